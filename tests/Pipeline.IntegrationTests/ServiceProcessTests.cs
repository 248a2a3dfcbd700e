using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Pipeline.Testing;
using Pipeline.Testing.Processes;

namespace Pipeline.IntegrationTests;

public sealed class ServiceProcessTests
{
    [Fact]
    public void The_repo_root_is_the_folder_with_Pipeline_sln_and_the_configuration_is_the_test_assemblys_own()
    {
        Assert.True(File.Exists(Path.Combine(RepoPaths.RepoRoot, "Pipeline.sln")));
        Assert.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}{RepoPaths.Configuration}{Path.DirectorySeparatorChar}", AppContext.BaseDirectory);
        Assert.Equal(
            Path.Combine(RepoPaths.RepoRoot, "services", "Pipeline.Ingest", "bin", RepoPaths.Configuration, "net10.0", "Pipeline.Ingest.dll"),
            RepoPaths.ServiceDll("Pipeline.Ingest"));
    }

    [Theory]
    [InlineData("/r/tests/X/bin/Release/net10.0/", "Release", "net10.0")]
    [InlineData("/r/tests/X/bin/Debug/net10.0/linux-x64/", "Debug", "net10.0")]
    [InlineData("/somewhere/else/", "Debug", "net10.0")]
    public void The_configuration_and_framework_come_from_the_output_path(string output, string configuration, string framework)
    {
        Assert.Equal(configuration, RepoPaths.ConfigurationOf(output));
        Assert.Equal(framework, RepoPaths.TargetFrameworkOf(output));
    }

    [Fact]
    public async Task A_service_runs_with_dotnet_from_its_output_folder_or_says_to_build_it()
    {
        await using var service = ServiceProcess.ForService("Pipeline.Ingest");

        Assert.Equal(Path.GetDirectoryName(RepoPaths.ServiceDll("Pipeline.Ingest")), service.WorkingDirectory);
        Assert.EndsWith($"dotnet {RepoPaths.ServiceDll("Pipeline.Ingest")}", service.CommandLineText);
        if (!File.Exists(RepoPaths.ServiceDll("Pipeline.Ingest")))
        {
            var error = await Assert.ThrowsAsync<FileNotFoundException>(() => service.StartAsync());
            Assert.Contains("dotnet build", error.Message);
        }
    }

    [Fact]
    public async Task A_process_gets_the_given_environment_without_the_inherited_environment_name_and_logs_its_output()
    {
        Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT", "http://inherited:4317");
        try
        {
            await using var process = Shell(
                "echo \"given=$GIVEN env=${DOTNET_ENVIRONMENT:-unset} otel=${OTEL_EXPORTER_OTLP_ENDPOINT:-unset} pwd=$(pwd)\"; echo oops >&2",
                new Dictionary<string, string?> { ["GIVEN"] = "value 1" });
            await process.StartAsync();

            Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(0, process.ExitCode);
            var log = await File.ReadAllTextAsync(process.LogPath);
            Assert.Contains($"given=value 1 env=unset otel=unset pwd={Path.GetTempPath().TrimEnd('/')}", log);
            Assert.Contains("oops", log);
        }
        finally
        {
            Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT", null);
        }
    }

    [Fact]
    public async Task A_paused_process_is_stopped_until_resumed_and_a_kill_ends_its_children_too()
    {
        await using var process = Shell("sleep 300 & sleep 300; wait");
        await process.StartAsync();
        await WaitUntil(() => ProcessCount(process) == 3);

        process.Pause();
        await WaitUntil(() => process.IsPaused, () => Describe(process));
        process.Resume();
        await WaitUntil(() => !process.IsPaused, () => Describe(process));

        var group = process.ProcessId!.Value;
        await process.KillAsync();

        Assert.False(process.IsRunning);
        Assert.Empty(ProcessTable.GroupMembers(group));
    }

    [Fact]
    public async Task Stop_sends_SIGTERM_and_restart_runs_the_same_command_again()
    {
        await using var process = Shell("trap 'echo got-term; exit 0' TERM; echo started; while true; do sleep 0.1; done");
        await process.StartAsync();
        await WaitUntil(() => StartedLines(process) == 1);
        var firstPid = process.ProcessId;

        await process.StopAsync(TimeSpan.FromSeconds(10));

        Assert.False(process.IsRunning);
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("got-term", File.ReadAllText(process.LogPath));

        await process.RestartAsync();
        Assert.True(process.IsRunning);
        Assert.NotEqual(firstPid, process.ProcessId);
        await WaitUntil(() => StartedLines(process) == 2);
    }

    [Fact]
    public async Task Waiting_until_ready_polls_the_health_url_until_it_answers_200()
    {
        var calls = 0;
        await using var health = await HealthServer(() => Interlocked.Increment(ref calls) < 3 ? 503 : 200);
        await using var process = Shell("sleep 300");
        await process.StartAsync();

        await process.WaitUntilReadyAsync(health.Url, TimeSpan.FromSeconds(20));

        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task Waiting_until_ready_fails_with_the_log_tail_when_the_process_exits()
    {
        await using var health = await HealthServer(() => 503);
        await using var process = Shell("echo 'Unhandled exception: ConnectionStrings:redis is not set.'; exit 3");
        await process.StartAsync();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => process.WaitUntilReadyAsync(health.Url, TimeSpan.FromSeconds(20)));

        Assert.Contains("exited with code 3", error.Message);
        Assert.Contains("ConnectionStrings:redis is not set.", error.Message);
    }

    [Fact]
    public async Task A_run_that_ends_with_the_restart_code_is_started_again_and_other_ends_are_not()
    {
        // The first run asks for a restart (exit 75), the second runs until stopped.
        var marker = Path.Combine(Path.GetTempPath(), $"restart-{Guid.NewGuid():N}");
        await using var process = Shell($"echo started; if [ -e '{marker}' ]; then exec sleep 60; fi; touch '{marker}'; exit 75");
        process.RestartExitCode = PipelineProcesses.WatchdogExitCode;
        try
        {
            await process.StartAsync();
            await WaitUntil(() => StartedLines(process) == 2 && process.IsRunning, () => Describe(process));
            Assert.Equal(1, process.Restarts);

            // A stop through the class, and then a crash with another code, are left as they are.
            await process.StopAsync(TimeSpan.FromSeconds(5));
            await Task.Delay(500);
            Assert.False(process.IsRunning);
            Assert.Equal(2, StartedLines(process));
        }
        finally
        {
            File.Delete(marker);
        }

        await using var crashing = Shell("echo started; exit 3");
        crashing.RestartExitCode = PipelineProcesses.WatchdogExitCode;
        await crashing.StartAsync();
        await WaitUntil(() => !crashing.IsRunning);
        await Task.Delay(500);
        Assert.Equal(1, StartedLines(crashing));
        Assert.Equal(0, crashing.Restarts);
    }

    [Fact]
    public void The_fixture_restarts_on_the_code_the_consumer_watchdog_exits_with()
    {
        Assert.Equal(Pipeline.ServiceDefaults.Messaging.ConsumerWatchdog.ExitCode, PipelineProcesses.WatchdogExitCode);
    }

    private static ServiceProcess Shell(string script, IReadOnlyDictionary<string, string?>? environment = null) =>
        new("shell", "/bin/sh", ["-c", script], Path.GetTempPath(), environment);

    private static int StartedLines(ServiceProcess process) =>
        File.ReadAllLines(process.LogPath).Count(l => l == "started");

    private static int ProcessCount(ServiceProcess process) =>
        process.ProcessId is { } pid ? ProcessTable.GroupMembers(pid).Count : 0;

    private static async Task WaitUntil(Func<bool> condition, Func<string>? describe = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s " + describe?.Invoke());
            await Task.Delay(50);
        }
    }

    private static string Describe(ServiceProcess process) =>
        $"running={process.IsRunning} exit={process.ExitCode} pid={process.ProcessId} "
        + string.Join(", ", process.ProcessId is { } pid
            ? ProcessTable.GroupMembers(pid).Select(p => $"{p}:{ProcessTable.Stat(p)}")
            : []);

    private static async Task<HealthEndpoint> HealthServer(Func<int> status)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.MapGet("/health/ready", (RequestDelegate)(context =>
        {
            context.Response.StatusCode = status();
            return context.Response.WriteAsync("{}");
        }));
        await app.StartAsync();
        return new HealthEndpoint(app, new Uri($"http://127.0.0.1:{port}/health/ready"));
    }

    private sealed record HealthEndpoint(WebApplication App, Uri Url) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
