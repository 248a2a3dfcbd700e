using System.Text.Json;
using Pipeline.ServiceDefaults;

namespace Pipeline.Deploy.Tests;

/// <summary>deploy/local/up.sh and down.sh: the compose topology without Docker.</summary>
public sealed class The_local_runner
{
    [Fact]
    public void Sets_every_setting_compose_gives_a_service_and_no_other()
    {
        var compose = ComposeFile.Load();
        var fromCompose = ComposeFile.PipelineServices
            .SelectMany(s => compose.Environment(s).Keys)
            .ToHashSet(StringComparer.Ordinal);
        var fromUp = ShellScript.AssignedSettings(ShellScript.Up);

        Assert.Empty(fromCompose.Except(fromUp).Order()); // in compose, not in up.sh
        Assert.Empty(fromUp.Except(fromCompose).Order()); // in up.sh, not in compose
    }

    [Fact]
    public void Uses_the_port_table_of_ServicePorts()
    {
        Assert.Equal(Expected(p => p.Grpc), ShellScript.PortTable(ShellScript.Up, "grpc_port"));
        Assert.Equal(Expected(p => p.Http), ShellScript.PortTable(ShellScript.Up, "http_port"));
        Assert.Equal(Expected(p => p.Redis), ShellScript.PortTable(ShellScript.Up, "redis_port"));
        Assert.Equal(Expected(p => p.Redis), ShellScript.PortTable(ShellScript.Down, "redis_port"));
        Assert.Contains($"rabbitmq_port={ServicePorts.RabbitMq}", Repository.Read(ShellScript.Up));
        Assert.Contains($"Smtp__Port:={ServicePorts.Smtp}", Repository.Read(ShellScript.Up));
    }

    [Fact]
    public void Starts_the_services_in_consumer_order()
    {
        Assert.Contains($"start_order=({string.Join(' ', ComposeFile.PipelineServices)})", Repository.Read(ShellScript.Up));
    }

    [Fact]
    public void Runs_redis_with_appendonly_everysec_and_rabbitmq_as_a_private_node_on_loopback()
    {
        var up = Repository.Read(ShellScript.Up);
        Assert.Contains("--appendonly yes --appendfsync \"$fsync\"", up);
        Assert.Contains("local fsync=everysec", up);
        Assert.Contains("[[ \"$name\" == notify ]] && fsync=always", up);
        Assert.Contains("rabbitmq_node=pipeline@localhost", up);
        Assert.Contains("RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", up);
    }

    [Fact]
    public void Keeps_a_setting_the_caller_gave_instead_of_overwriting_it()
    {
        var up = Repository.Read(ShellScript.Up);
        foreach (var name in new[] { "ConnectionStrings__rabbitmq", "OTEL_EXPORTER_OTLP_ENDPOINT", "Smtp__Host", "Smtp__Port", "Notify__PublicBaseUrl", "Services__embed__grpc", "Services__rank__grpc" })
        {
            Assert.Contains($": \"${{{name}:=", up);
        }
    }

    [Fact]
    public void Pins_maildev_to_one_version_with_a_lock_file()
    {
        using var package = JsonDocument.Parse(Repository.Read("deploy/local/package.json"));
        var version = package.RootElement.GetProperty("dependencies").GetProperty("maildev").GetString();
        Assert.Matches(@"^\d+\.\d+\.\d+$", version);

        using var lockFile = JsonDocument.Parse(Repository.Read("deploy/local/package-lock.json"));
        Assert.Equal(version, lockFile.RootElement.GetProperty("packages").GetProperty("node_modules/maildev").GetProperty("version").GetString());
    }

    [Theory]
    [InlineData(ShellScript.Up)]
    [InlineData(ShellScript.Down)]
    [InlineData(ShellScript.Supervise)]
    [InlineData(ShellScript.Entrypoint)]
    public void Scripts_are_strict_bash_that_parses(string script)
    {
        var text = Repository.Read(script);
        Assert.StartsWith("#!/usr/bin/env bash\n", text);
        Assert.Contains("set -euo pipefail", text);
        var result = ExternalTool.TryRun("bash", ["-n", script]);
        Assert.NotNull(result);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [ShellcheckFact]
    public void Scripts_pass_shellcheck()
    {
        var result = ExternalTool.TryRun("shellcheck", [ShellScript.Up, ShellScript.Down, ShellScript.Supervise, ShellScript.Entrypoint])!;
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Theory]
    [InlineData("systemctl", "systemctl disable")]
    [InlineData("update-rc.d", "update-rc.d")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_system_broker_and_redis_it_installs_are_stopped_and_kept_from_starting_at_boot(string initTool, string disableCall)
    {
        // up.sh's install step, run against stand-ins for apt-get, service, the init tool and npm
        // that only record their calls: without the boot-time disable, the system broker comes
        // back after a reboot and holds port 5672, and up.sh no longer knows it installed it.
        var work = Directory.CreateTempSubdirectory("up-install-").FullName;
        try
        {
            var bin = Directory.CreateDirectory(Path.Combine(work, "bin")).FullName;
            var calls = Path.Combine(work, "calls");
            foreach (var tool in new[] { "apt-get", "service", "npm", "sudo", initTool })
            {
                var stub = Path.Combine(bin, tool);
                File.WriteAllText(stub, $"#!/bin/bash\necho \"{tool} $*\" >> '{calls}'\n" + (tool == "sudo" ? "exec \"$@\"\n" : "exit 0\n"));
                File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            foreach (var real in new[] { "cp", "mkdir", "env" })
            {
                File.CreateSymbolicLink(Path.Combine(bin, real), ExternalTool.TryRun("bash", ["-c", $"command -v {real}"])!.Output.Trim());
            }

            // The two functions as up.sh has them, with the broker's fixed install path pointed
            // elsewhere so that the machine's own packages do not count as installed.
            var up = Repository.Read(ShellScript.Up);
            var functions = string.Concat(new[] { "as_root() {", "install_packages() {" }.Select(start =>
            {
                var from = up.IndexOf("\n" + start, StringComparison.Ordinal) + 1;
                Assert.True(from > 0, $"up.sh has no {start}");
                return up[from..(up.IndexOf("\n}\n", from, StringComparison.Ordinal) + 3)];
            })).Replace("/usr/lib/rabbitmq/bin/rabbitmq-server", Path.Combine(work, "no-rabbitmq-server"), StringComparison.Ordinal);
            var harness = Path.Combine(work, "install.sh");
            File.WriteAllText(harness, "set -euo pipefail\nlog() { printf '%s\\n' \"$*\"; }\n" +
                $"here='{Repository.PathOf("deploy/local")}'\ntools='{Path.Combine(work, "tools")}'\n{functions}\ninstall_packages\n");

            var result = ExternalTool.TryRun("/bin/bash", [harness], new Dictionary<string, string?> { ["PATH"] = bin })!;

            Assert.True(result.ExitCode == 0, result.ToString());
            var made = File.ReadAllLines(calls);
            // Waiting for dpkg's lock (a fresh machine's unattended upgrades) and retrying the mirror.
            Assert.Contains(made, c => c.StartsWith("apt-get ", StringComparison.Ordinal) && c.Contains(" install ") && c.Contains("DPkg::Lock::Timeout")
                && c.Contains("rabbitmq-server") && c.Contains("redis-server"));
            foreach (var unit in new[] { "rabbitmq-server", "redis-server" })
            {
                Assert.Contains($"service {unit} stop", made);
                Assert.Contains(made, c => c.StartsWith(disableCall, StringComparison.Ordinal) && c.Contains(unit) && c.Contains("disable"));
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void The_generated_secrets_file_holds_the_api_key_the_caller_gave_so_sourcing_it_gives_the_key_in_use()
    {
        // up.sh's own functions, run alone against a new .run directory.
        var up = Repository.Read(ShellScript.Up);
        var start = up.IndexOf("random_hex() {", StringComparison.Ordinal);
        var end = up.IndexOf("\n}\n", up.IndexOf("load_secrets() {", StringComparison.Ordinal), StringComparison.Ordinal) + 3;
        Assert.True(start > 0 && end > start, "up.sh no longer defines random_hex and load_secrets");
        var dir = Directory.CreateTempSubdirectory("up-secrets-");
        try
        {
            var functions = $"set -euo pipefail\nroot='{dir.FullName}'\nrun='{dir.FullName}'\nlog() {{ :; }}\ndie() {{ echo \"$*\" >&2; exit 1; }}\n" + up[start..end];
            (int Code, string Output, string Error) Run(string key) =>
                ExternalTool.TryRun("bash", ["-c", functions + $"\nPIPELINE_API_KEY='{key}'\nload_secrets\necho \"in use: $Security__ApiKeys__0\"\n" +
                    "unset PIPELINE_API_KEY\n. \"$secrets_file\"\necho \"sourced: $PIPELINE_API_KEY $NOTIFY_TOKEN_KEY\"\n"], timeout: TimeSpan.FromSeconds(30)) is { } r
                    ? (r.ExitCode, r.Output, r.Error)
                    : throw new InvalidOperationException("bash did not run");

            // First run: the caller's API key and a generated signing key.
            var first = Run("the-callers-key");
            Assert.True(first.Code == 0, first.Error);
            Assert.Contains("in use: the-callers-key", first.Output);
            var signing = System.Text.RegularExpressions.Regex.Match(first.Output, "sourced: the-callers-key ([0-9a-f]{64})").Groups[1].Value;
            Assert.NotEmpty(signing);

            // A later run with another key: the file follows it, and the signing key stays.
            var second = Run("another-key");
            Assert.Contains($"sourced: another-key {signing}", second.Output);

            // A key the file could not hold safely is refused before anything is written.
            var refused = Run("a key; touch pwned");
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("may hold only letters", refused.Error);
            Assert.Contains($"PIPELINE_API_KEY=another-key", File.ReadAllText(Path.Combine(dir.FullName, "secrets.env")));
            Assert.NotEqual(0, Run("~/key").Code); // a leading ~ would be expanded when sourced
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir.FullName, "secrets.env")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Runs_each_service_under_the_supervisor_that_restarts_it_on_exit_code_75()
    {
        Assert.Contains("start_detached \"$pidfile\" \"$logfile\" \"$here/supervise.sh\" dotnet \"$dll\"", Repository.Read(ShellScript.Up));
    }

    [Fact]
    public void The_supervisor_starts_a_command_again_after_exit_75_and_passes_any_other_exit_on()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"supervise-{Guid.NewGuid():N}");
        try
        {
            var result = ExternalTool.TryRun(Repository.PathOf(ShellScript.Supervise),
                ["sh", "-c", $"echo run; if [ -e '{marker}' ]; then exit 4; fi; touch '{marker}'; exit 75"], timeout: TimeSpan.FromSeconds(30))!;

            Assert.Equal(4, result.ExitCode);
            Assert.Equal(["run", "run"], result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("exited with 75", result.Error);
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public Task The_supervisor_passes_SIGTERM_on_and_ends_when_the_command_has() =>
        TerminateSupervisorAsync(Repository.PathOf(ShellScript.Supervise), []);

    [Fact]
    public async Task A_SIGTERM_just_after_the_command_started_still_reaches_the_command()
    {
        // The supervisor learns the command's pid (`child=$!`) a moment after starting it; a
        // SIGTERM in between once left the command running after the supervisor had exited (seen
        // in CI on a loaded machine). A copy of the script with that moment stretched to 300 ms
        // makes the race certain rather than rare.
        var script = await File.ReadAllTextAsync(Repository.PathOf(ShellScript.Supervise));
        Assert.Contains("\n  child=$!\n", script);
        var copy = Path.Combine(Path.GetTempPath(), $"supervise-slow-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(copy, script.Replace("\n  child=$!\n", "\n  sleep 0.3; child=$!\n", StringComparison.Ordinal));
        try
        {
            await TerminateSupervisorAsync("bash", [copy]);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>
    /// Starts the supervisor (<paramref name="program"/> and <paramref name="arguments"/>) on a
    /// command that writes its pid and sleeps, sends the supervisor SIGTERM as soon as the command
    /// runs, and checks that both are gone.
    /// </summary>
    private static async Task TerminateSupervisorAsync(string program, string[] arguments)
    {
        var pidFile = Path.Combine(Path.GetTempPath(), $"supervise-{Guid.NewGuid():N}");
        var info = new System.Diagnostics.ProcessStartInfo(program) { UseShellExecute = false };
        foreach (var arg in arguments.Concat(["sh", "-c", $"echo $$ > '{pidFile}'; exec sleep 60"]))
        {
            info.ArgumentList.Add(arg);
        }

        using var supervisor = System.Diagnostics.Process.Start(info)!;
        var child = 0;
        try
        {
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!File.Exists(pidFile) || File.ReadAllText(pidFile).Trim().Length == 0)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "the command did not start");
                await Task.Delay(10);
            }

            child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            ExternalTool.TryRun("kill", ["-TERM", supervisor.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await supervisor.WaitForExitAsync(timeout.Token);

            Assert.Equal(143, supervisor.ExitCode);
            Assert.False(Directory.Exists($"/proc/{child}"), $"the command (pid {child}) outlived its supervisor");
        }
        finally
        {
            if (!supervisor.HasExited)
            {
                supervisor.Kill(entireProcessTree: true);
            }

            if (child > 0 && Directory.Exists($"/proc/{child}"))
            {
                ExternalTool.TryRun("kill", ["-KILL", child.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            }

            File.Delete(pidFile);
        }
    }

    private static Dictionary<string, int> Expected(Func<(int Grpc, int Http, int Redis), int> port) =>
        ServicePorts.Services.ToDictionary(s => s.Key, s => port(s.Value));
}
