using System.Text.RegularExpressions;
using Pipeline.ServiceDefaults;

namespace Pipeline.Deploy.Tests;

/// <summary>deploy/service.Dockerfile, its entry script and the build context's .dockerignore.</summary>
public sealed partial class The_service_image
{
    private const string Dockerfile = "deploy/service.Dockerfile";

    private static readonly string[] Instructions = ReadInstructions();

    [Fact]
    public void Takes_the_service_as_build_argument_and_builds_its_project_from_the_repository_root()
    {
        Assert.Contains("ARG SERVICE", Instructions);
        var text = Repository.Read(Dockerfile);
        Assert.Contains("services/Pipeline.${SERVICE^}/Pipeline.${SERVICE^}.csproj", text);
        // Paths are relative to the repository root, the build context.
        Assert.Contains(Instructions, i => i is "COPY . .");
        Assert.True(File.Exists(Repository.PathOf(ShellScript.Entrypoint)));
        Assert.Contains(ShellScript.Entrypoint, text);
    }

    [Fact]
    public void Restores_before_it_copies_the_sources_so_the_restore_layer_is_cached()
    {
        var build = StageInstructions("build");
        var restore = build.FindIndex(i => i.Contains("dotnet restore"));
        var copySources = build.FindIndex(i => i is "COPY . .");
        var publish = build.FindIndex(i => i.Contains("dotnet publish") && i.Contains("-c Release"));
        Assert.True(restore >= 0 && copySources > restore && publish > copySources, string.Join('\n', build));
    }

    [Fact]
    public void Builds_on_the_dotnet_10_sdk_and_runs_on_the_aspnet_10_runtime()
    {
        var from = Instructions.Where(i => i.StartsWith("FROM ")).ToList();
        Assert.Contains("ARG DOTNET_VERSION=10.0", Instructions);
        Assert.Contains(from, f => f.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build"));
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}", from[^1]);
    }

    [Fact]
    public void Runs_as_the_non_root_app_user_with_a_healthcheck()
    {
        var runtime = StageInstructions(null);
        Assert.Equal("USER $APP_UID", runtime.Last(i => i.StartsWith("USER ")));
        Assert.Contains(runtime, i => i.StartsWith("HEALTHCHECK ") && i.Contains("health"));
        Assert.Contains(runtime, i => i.StartsWith("ENTRYPOINT "));
    }

    [Fact]
    public void The_entrypoint_defaults_to_the_port_table_of_ServicePorts()
    {
        var table = ShellScript.EntrypointPortTable();
        Assert.Equal(ServicePorts.Services.ToDictionary(s => s.Key, s => (s.Value.Grpc, s.Value.Http)), table);
        var script = Repository.Read(ShellScript.Entrypoint);
        Assert.Contains("Kestrel__Endpoints__Grpc__Url:=http://0.0.0.0:", script);
        Assert.Contains("Kestrel__Endpoints__Http__Url:=http://0.0.0.0:", script);
        Assert.Contains("GET /health/ready", script);
    }

    [Fact]
    public void The_build_context_leaves_out_build_output_git_and_local_state()
    {
        var ignored = Repository.Read(".dockerignore").Split('\n').Select(l => l.Trim()).ToHashSet();
        Assert.Superset(new HashSet<string> { ".git", "**/bin", "**/obj", "deploy/local/.run", "deploy/local/.tools", ".env" }, ignored);
        Assert.DoesNotContain(ignored, i => i is "deploy" or "deploy/" or "services" or "contracts" or "*.sh");
    }

    /// <summary>The instructions of one stage (<c>AS name</c>), or of the last stage for null.</summary>
    private static List<string> StageInstructions(string? stage)
    {
        var starts = Instructions.Select((i, n) => (i, n)).Where(x => x.i.StartsWith("FROM ")).Select(x => x.n).ToList();
        var start = stage is null ? starts[^1] : starts.Single(n => Instructions[n].EndsWith($" AS {stage}"));
        var end = starts.FirstOrDefault(n => n > start, Instructions.Length);
        return Instructions[start..end].ToList();
    }

    /// <summary>Dockerfile instructions, one per entry, with continuation lines joined and comments dropped.</summary>
    private static string[] ReadInstructions()
    {
        var lines = Repository.Read(Dockerfile).Split('\n').Where(l => !l.TrimStart().StartsWith('#'));
        var joined = Continuation().Replace(string.Join('\n', lines), " ");
        return joined.Split('\n').Select(l => Spaces().Replace(l.Trim(), " ")).Where(l => l.Length > 0).ToArray();
    }

    [GeneratedRegex(@"\\\n")]
    private static partial Regex Continuation();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
