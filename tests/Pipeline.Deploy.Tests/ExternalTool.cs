using System.Diagnostics;

namespace Pipeline.Deploy.Tests;

/// <summary>Runs a command-line tool and captures what it says.</summary>
internal sealed record ToolResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n{Output}\n{Error}";
}

internal static class ExternalTool
{
    public static ToolResult? TryRun(string file, IEnumerable<string> args, IDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // not installed
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish.");
            }

            return new ToolResult(process.ExitCode, output.Result, error.Result);
        }
    }
}

/// <summary>
/// The Compose command line, if this machine has one: the docker CLI plugin (<c>docker compose</c>)
/// or the standalone <c>docker-compose</c>. <c>config</c> only parses and resolves the file, so it
/// needs no Docker engine.
/// </summary>
internal static class ComposeCli
{
    public static readonly (string File, string[] Prefix)? Command = Find();

    public const string Missing =
        "Neither `docker compose` (the CLI plugin) nor `docker-compose` is installed, so the compose file is not checked by Compose itself here.";

    public static ToolResult Run(IEnumerable<string> args, IDictionary<string, string?> environment)
    {
        var (file, prefix) = Command ?? throw new InvalidOperationException(Missing);
        return ExternalTool.TryRun(file, prefix.Concat(args), environment, TimeSpan.FromSeconds(120))!;
    }

    private static (string, string[])? Find()
    {
        if (ExternalTool.TryRun("docker", ["compose", "version"]) is { ExitCode: 0 })
        {
            return ("docker", ["compose"]);
        }

        if (ExternalTool.TryRun("docker-compose", ["version"]) is { ExitCode: 0 })
        {
            return ("docker-compose", []);
        }

        return null;
    }
}

/// <summary>A fact that runs only where a Compose command line is installed.</summary>
public sealed class ComposeFactAttribute : FactAttribute
{
    public ComposeFactAttribute()
    {
        if (ComposeCli.Command is null)
        {
            Skip = ComposeCli.Missing;
        }
    }
}

/// <summary>A fact that runs only where shellcheck is installed (apt-get install shellcheck).</summary>
public sealed class ShellcheckFactAttribute : FactAttribute
{
    public static readonly bool Installed = ExternalTool.TryRun("shellcheck", ["--version"]) is { ExitCode: 0 };

    public ShellcheckFactAttribute()
    {
        if (!Installed)
        {
            Skip = "shellcheck is not installed (apt-get install shellcheck), so the scripts are not linted here.";
        }
    }
}
