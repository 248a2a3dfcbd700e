using System.Text.RegularExpressions;

namespace Pipeline.Deploy.Tests;

/// <summary>What the tests read out of the bash scripts under deploy/.</summary>
internal static partial class ShellScript
{
    public const string Up = "deploy/local/up.sh";
    public const string Down = "deploy/local/down.sh";
    public const string Supervise = "deploy/local/supervise.sh";
    public const string Entrypoint = "deploy/service-entrypoint.sh";

    /// <summary>
    /// The configuration names a script assigns: <c>Name__Sub</c> and <c>OTEL_*</c> names followed by
    /// <c>=</c> or <c>:=</c>, as in <c>: "${Smtp__Port:=1025}"</c> or <c>"OTEL_SERVICE_NAME=$name"</c>.
    /// Comment lines are skipped, so a name that is only mentioned does not count.
    /// </summary>
    public static IReadOnlySet<string> AssignedSettings(string relativePath) =>
        CodeLines(relativePath)
            .SelectMany(line => SettingAssignment().Matches(line).Select(m => m.Groups["name"].Value))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>A bash associative array literal: <c>declare -A grpc_port=([ingest]=5101 ...)</c>.</summary>
    public static IReadOnlyDictionary<string, int> PortTable(string relativePath, string arrayName)
    {
        var line = CodeLines(relativePath).SingleOrDefault(l => l.Contains($"declare -A {arrayName}=("))
            ?? throw new Xunit.Sdk.XunitException($"{relativePath} declares no associative array '{arrayName}'.");
        return ArrayEntry().Matches(line).ToDictionary(m => m.Groups["key"].Value, m => int.Parse(m.Groups["value"].Value));
    }

    /// <summary>The <c>name) grpc_port=5101 http_port=5201 ;;</c> arms of the entrypoint's case table.</summary>
    public static IReadOnlyDictionary<string, (int Grpc, int Http)> EntrypointPortTable() =>
        CodeLines(Entrypoint)
            .Select(l => EntrypointArm().Match(l))
            .Where(m => m.Success)
            .ToDictionary(m => m.Groups["name"].Value, m => (int.Parse(m.Groups["grpc"].Value), int.Parse(m.Groups["http"].Value)));

    private static IEnumerable<string> CodeLines(string relativePath) =>
        Repository.Read(relativePath).Split('\n').Where(l => !l.TrimStart().StartsWith('#'));

    [GeneratedRegex(@"(?<![\w$])(?<name>[A-Za-z][A-Za-z0-9]*(?:__[A-Za-z0-9]+)+|OTEL_[A-Z_]+)(?=:?=)")]
    private static partial Regex SettingAssignment();

    [GeneratedRegex(@"\[(?<key>\w+)\]=(?<value>\d+)")]
    private static partial Regex ArrayEntry();

    [GeneratedRegex(@"^\s*(?<name>\w+)\)\s+grpc_port=(?<grpc>\d+)\s+http_port=(?<http>\d+)")]
    private static partial Regex EntrypointArm();
}
