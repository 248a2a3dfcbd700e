using System.Diagnostics;
using Pipeline.Testing.Processes;

namespace Pipeline.Testing;

/// <summary>
/// A server the tests run as a child process on a loopback port: start, graceful stop, kill (a
/// crash), pause (a hang) and restart on the same port and data. Subclasses say how to launch one
/// and when it is ready; the lifecycle, serialised so a fault test cannot race a restart, is here.
/// </summary>
public abstract class LocalServer : IAsyncDisposable
{
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private int _disposed;

    /// <summary>The running process (null while stopped).</summary>
    protected ChildProcess? Process { get; private set; }

    /// <summary>How the server is named in errors: "Redis", "The broker".</summary>
    protected abstract string Description { get; }

    /// <summary>The port that is closed once the server is gone.</summary>
    protected abstract int ListeningPort { get; }

    protected abstract TimeSpan StopTimeout { get; }

    /// <summary>True while the server's process is alive (it may be paused).</summary>
    public bool IsRunning => Process is { HasExited: false };

    /// <summary>True after <see cref="Pause"/> once its processes no longer run.</summary>
    public bool IsPaused => Process is { HasExited: false, IsPaused: true };

    /// <summary>Starts the server (same port and data as before) and returns when it is ready.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsRunning)
            {
                return;
            }

            if (Process is not null)
            {
                await Process.DisposeAsync().ConfigureAwait(false);
                Process = null;
            }

            Process = await LaunchAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>
    /// Starts the process and waits until it serves; on failure disposes the process and throws
    /// an exception that says why (with the log's tail).
    /// </summary>
    protected abstract Task<ChildProcess> LaunchAsync(CancellationToken cancellationToken);

    /// <summary>SIGTERM (a clean shutdown), then SIGKILL after the stop timeout. Returns when the port is closed.</summary>
    public Task StopAsync() => EndAsync(p => p.StopAsync(StopTimeout), graceful: true);

    /// <summary>SIGKILL to the whole process group: a crash. Returns when nothing of it is left.</summary>
    public Task KillAsync() => EndAsync(p => p.KillAsync(), graceful: false);

    /// <summary>Graceful stop (if running), then start on the same port and data.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SIGSTOP: the server hangs with its sockets open (clients see timeouts, not refusals).</summary>
    public void Pause() => (Process ?? throw new InvalidOperationException($"{Description} is not running.")).Pause();

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => (Process ?? throw new InvalidOperationException($"{Description} is not running.")).Resume();

    /// <summary>Called after a graceful stop, with how long it took.</summary>
    protected virtual void OnStopped(TimeSpan elapsed)
    {
    }

    /// <summary>Deletes the server's data (not its logs) when the fixture is disposed.</summary>
    protected virtual void DeleteData()
    {
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await KillAsync().ConfigureAwait(false);
        _lifecycle.Dispose();
        if (!TestArtifacts.KeepData)
        {
            DeleteData();
        }

        GC.SuppressFinalize(this);
    }

    private async Task EndAsync(Func<ChildProcess, Task> end, bool graceful)
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Process is null)
            {
                return;
            }

            var stopwatch = Stopwatch.StartNew();
            await end(Process).ConfigureAwait(false);
            await Process.DisposeAsync().ConfigureAwait(false);
            Process = null;
            await FreePort.WaitUntilClosedAsync(ListeningPort, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            if (graceful)
            {
                OnStopped(stopwatch.Elapsed);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }
}
