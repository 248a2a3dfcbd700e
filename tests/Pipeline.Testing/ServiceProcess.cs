using System.Diagnostics;
using Pipeline.Testing.Processes;

namespace Pipeline.Testing;

/// <summary>Where things are in the repository, seen from a test assembly.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> Root = new(() => FindRoot(AppContext.BaseDirectory));

    /// <summary>The folder holding Pipeline.sln, found by walking up from the test assembly's folder.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>The real recorded data beside the repository (<c>../shared/data</c>), or null where that folder is absent.</summary>
    public static string? SharedDataFolder =>
        Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data")) is var data && Directory.Exists(data) ? data : null;

    /// <summary>Debug or Release: the configuration the test assembly itself was built with (from its output path).</summary>
    public static string Configuration { get; } = ConfigurationOf(AppContext.BaseDirectory);

    /// <summary>The target framework folder of the test assembly's output (net10.0).</summary>
    public static string TargetFramework { get; } = TargetFrameworkOf(AppContext.BaseDirectory);

    /// <summary><c>services/&lt;project&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/&lt;project&gt;.dll</c> for a project such as Pipeline.Ingest.</summary>
    public static string ServiceDll(string project) =>
        Path.Combine(RepoRoot, "services", project, "bin", Configuration, TargetFramework, project + ".dll");

    /// <summary>Walks up from <paramref name="start"/> to the first folder that holds Pipeline.sln.</summary>
    public static string FindRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Pipeline.sln in {start} or any folder above it.");
    }

    /// <summary>The segment after <c>bin</c> in an output path such as <c>.../bin/Release/net10.0/</c>; Debug if there is none.</summary>
    public static string ConfigurationOf(string outputDirectory)
    {
        var parts = outputDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var bin = Array.LastIndexOf(parts, "bin");
        return bin >= 0 && bin + 1 < parts.Length - 1 ? parts[bin + 1] : "Debug";
    }

    /// <summary>The segment two after <c>bin</c> in an output path such as <c>.../bin/Release/net10.0/</c>; net10.0 if there is none.</summary>
    public static string TargetFrameworkOf(string outputDirectory)
    {
        var parts = outputDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var bin = Array.LastIndexOf(parts, "bin");
        return bin >= 0 && bin + 2 < parts.Length ? parts[bin + 2] : "net10.0";
    }
}

/// <summary>
/// One of the pipeline's services (or any program) as a child process in its own process group:
/// <c>dotnet services/Pipeline.X/bin/&lt;Configuration&gt;/net10.0/Pipeline.X.dll</c>, working folder the dll's
/// folder, the current environment plus the given variables (inherited DOTNET_ENVIRONMENT,
/// ASPNETCORE_ENVIRONMENT, ASPNETCORE_URLS and OTEL_* are dropped, so it runs as Production and
/// exports nowhere unless told), stdout and stderr in a log file per service. Stop, kill, pause,
/// resume and restart with the same environment.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    /// <summary>Inherited variables that would change what a service does; give them explicitly instead.</summary>
    public static readonly IReadOnlyList<string> DroppedVariables =
        ["DOTNET_ENVIRONMENT", "ASPNETCORE_ENVIRONMENT", "ASPNETCORE_URLS", "DOTNET_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS"];

    private readonly string _fileName;
    private readonly IReadOnlyList<string> _arguments;
    private readonly IReadOnlyDictionary<string, string?> _environment;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private int _disposed;
    private ChildProcess? _process;
    private ChildProcess? _ending;
    private int _starts;

    /// <summary>Any program: <paramref name="fileName"/> with <paramref name="arguments"/>.</summary>
    public ServiceProcess(
        string name,
        string fileName,
        IReadOnlyList<string> arguments,
        string workingDirectory,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? logPath = null)
    {
        Name = name;
        _fileName = fileName;
        _arguments = arguments;
        WorkingDirectory = workingDirectory;
        // A service's log lines carry the UTC time, so a slow step can be placed against the
        // broker's, Redis's and the test's own times (unless the test sets the format itself).
        var withTimes = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        withTimes.TryAdd("Logging__Console__FormatterName", "simple");
        withTimes.TryAdd("Logging__Console__FormatterOptions__TimestampFormat", "HH:mm:ss.fff ");
        withTimes.TryAdd("Logging__Console__FormatterOptions__UseUtcTimestamp", "true");
        _environment = withTimes;
        LogPath = logPath ?? Path.Combine(TestArtifacts.RunDirectory, "services", $"{name}-{Guid.NewGuid().ToString("N")[..6]}.log");
    }

    /// <summary>
    /// A pipeline service by project name (Pipeline.Ingest, Pipeline.Embed, Pipeline.Rank,
    /// Pipeline.Notify), run from its build output with the test assembly's configuration.
    /// </summary>
    public static ServiceProcess ForService(string project, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var dll = RepoPaths.ServiceDll(project);
        return new ServiceProcess(project, DotnetHost, [dll], Path.GetDirectoryName(dll)!, environment);
    }

    /// <summary>The dotnet host running this test process (else DOTNET_HOST_PATH, else dotnet on the PATH).</summary>
    public static string DotnetHost { get; } =
        System.Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? path
            : System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    public string Name { get; }

    public string WorkingDirectory { get; }

    /// <summary>stdout and stderr of every start, appended.</summary>
    public string LogPath { get; }

    /// <summary>The program and its first argument (the service dll).</summary>
    public string CommandLineText => $"{_fileName} {string.Join(' ', _arguments)}";

    /// <summary>The environment given on top of the inherited one.</summary>
    public IReadOnlyDictionary<string, string?> Environment => _environment;

    /// <summary>True while the process is alive (it may be paused).</summary>
    public bool IsRunning => _process is { HasExited: false };

    public int? ProcessId => IsRunning ? _process!.Id : null;

    /// <summary>The exit code of the last run, once it has exited.</summary>
    public int? ExitCode => _process?.ExitCode;

    /// <summary>
    /// A run that ends by itself with this exit code is started again at once, as compose's
    /// <c>restart: unless-stopped</c> does; a stop or kill through this class is never undone.
    /// Null (the default): nothing is restarted.
    /// </summary>
    public int? RestartExitCode { get; set; }

    /// <summary>How many times the process was started again after ending with <see cref="RestartExitCode"/>.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    private int _restarts;

    /// <summary>Starts the process (if not running). Throws when the program does not exist.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsRunning)
            {
                return;
            }

            if (_process is not null)
            {
                await _process.DisposeAsync().ConfigureAwait(false);
                _process = null;
            }

            if (_arguments.Count > 0 && _arguments[0].EndsWith(".dll", StringComparison.OrdinalIgnoreCase) && !File.Exists(_arguments[0]))
            {
                throw new FileNotFoundException(
                    $"{Name}: {_arguments[0]} does not exist; build the service first (dotnet build -c {RepoPaths.Configuration}).", _arguments[0]);
            }

            _starts++;
            Directory.CreateDirectory(Path.GetDirectoryName(LogPath)!);
            await File.AppendAllTextAsync(LogPath, $"---- start #{_starts} at {DateTime.UtcNow:O}: {CommandLineText}\n", cancellationToken).ConfigureAwait(false);
            var removed = DroppedVariables.Concat(
                System.Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("OTEL_", StringComparison.Ordinal)));
            var started = ChildProcess.Start(_fileName, _arguments, WorkingDirectory, LogPath, _environment, removed);
            _process = started;
            _ending = null;
            if (RestartExitCode is { } restartCode)
            {
                _ = RestartWhenItEndsAsync(started, restartCode);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task RestartWhenItEndsAsync(ChildProcess run, int restartCode)
    {
        while (!await run.WaitForExitAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false))
        {
            if (Volatile.Read(ref _disposed) == 1)
            {
                return;
            }
        }

        await Task.Delay(200).ConfigureAwait(false); // compose waits too before a restart
        if (run.ExitCode != restartCode || Volatile.Read(ref _disposed) == 1 || !ReferenceEquals(_process, run) || ReferenceEquals(_ending, run))
        {
            return;
        }

        try
        {
            await File.AppendAllTextAsync(LogPath, $"---- exited with {restartCode}: starting it again\n").ConfigureAwait(false);
            Interlocked.Increment(ref _restarts);
            await StartAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
            // Disposed while restarting: the test is over.
        }
    }

    /// <summary>
    /// Polls GET <paramref name="healthUrl"/> (e.g. http://127.0.0.1:5201/health/ready) until it answers 200.
    /// Throws, with the tail of the log, when the process exits or <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task WaitUntilReadyAsync(Uri healthUrl, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var stopwatch = Stopwatch.StartNew();
        var last = "no answer yet";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var process = _process ?? throw new InvalidOperationException($"{Name} is not started.");
            if (process.HasExited)
            {
                throw Failure($"{Name} exited with code {process.ExitCode} before {healthUrl} answered 200 (last: {last})");
            }

            try
            {
                using var response = await http.GetAsync(healthUrl, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                last = "timed out";
            }

            if (stopwatch.Elapsed > timeout)
            {
                throw Failure($"{healthUrl} did not answer 200 within {timeout} (last: {last})");
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Starts and waits until ready.</summary>
    public async Task StartAndWaitUntilReadyAsync(Uri healthUrl, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        await WaitUntilReadyAsync(healthUrl, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SIGTERM (graceful host shutdown), wait up to <paramref name="grace"/> (default 20 s), then SIGKILL.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            _ending = _process;
            if (_process is not null && !_process.HasExited)
            {
                await _process.StopAsync(grace ?? TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            }
            else if (_process is not null)
            {
                await _process.KillAsync().ConfigureAwait(false); // leftovers of the group, if any
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>SIGKILL to the process group: a crash. Returns when it is gone.</summary>
    public async Task KillAsync()
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            _ending = _process;
            if (_process is not null)
            {
                await _process.KillAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>SIGSTOP: the process hangs with its ports open.</summary>
    public void Pause() => (_process ?? throw new InvalidOperationException($"{Name} is not started.")).Pause();

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => (_process ?? throw new InvalidOperationException($"{Name} is not started.")).Resume();

    /// <summary>True after <see cref="Pause"/> once the process (and its children) no longer run.</summary>
    public bool IsPaused => _process is { HasExited: false, IsPaused: true };

    /// <summary>Graceful stop (if running), then start with the same command and environment.</summary>
    public async Task RestartAsync(TimeSpan? grace = null, CancellationToken cancellationToken = default)
    {
        await StopAsync(grace).ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the process to exit by itself; true if it did within <paramref name="timeout"/>.</summary>
    public Task<bool> WaitForExitAsync(TimeSpan timeout) =>
        _process?.WaitForExitAsync(timeout) ?? Task.FromResult(true);

    /// <summary>The last lines of the log.</summary>
    public string ReadLogTail(int lines = 60) => LogFiles.Tail(LogPath, lines);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_process is not null)
        {
            await _process.DisposeAsync().ConfigureAwait(false);
            _process = null;
        }

        _lifecycle.Dispose();
    }

    private InvalidOperationException Failure(string message) =>
        new($"{message}.\n--- {LogPath}\n{ReadLogTail(40)}");
}
