using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Pipeline.Testing.Processes;

namespace Pipeline.Testing;

/// <summary>Settings of a <see cref="RedisServer"/>.</summary>
public sealed record RedisServerOptions
{
    public string Executable { get; init; } = "redis-server";

    /// <summary>
    /// Append-only file on (for durability tests: what a kill -9 keeps). Off by default, and no RDB
    /// snapshots either, so a restart starts empty.
    /// </summary>
    public bool AppendOnly { get; init; }

    /// <summary><c>appendfsync</c> when <see cref="AppendOnly"/> is on: always (default; nothing acknowledged is lost), everysec or no.</summary>
    public string AppendFsync { get; init; } = "always";

    /// <summary>More <c>--name value</c> arguments, appended as given.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// A private <c>redis-server</c> on 127.0.0.1 and a port that was free, with its own folder; no
/// persistence unless asked for. Start, stop, kill, pause and restart on the same port and folder.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly RedisServerOptions _options;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private int _disposed;
    private ChildProcess? _process;

    public RedisServer(RedisServerOptions? options = null)
    {
        _options = options ?? new RedisServerOptions();
        Port = FreePort.Next();
        Directory = TestArtifacts.NewDirectory("redis");
    }

    public int Port { get; }

    /// <summary>The server's working folder (dump and append-only files) and its log.</summary>
    public string Directory { get; }

    public string LogPath => Path.Combine(Directory, "redis.log");

    /// <summary>For StackExchange.Redis: <c>127.0.0.1:&lt;port&gt;</c>.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    public int? ProcessId => IsRunning ? _process!.Id : null;

    /// <summary>Creates a server and starts it.</summary>
    public static async Task<RedisServer> StartNewAsync(RedisServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var server = new RedisServer(options);
        try
        {
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the server (same port and folder as before) and returns when it answers PING with PONG.</summary>
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
            }

            string[] arguments =
            [
                "--port", Port.ToString(CultureInfo.InvariantCulture),
                "--bind", "127.0.0.1",
                "--dir", Directory,
                "--daemonize", "no",
                "--supervised", "no",
                "--logfile", "",
                "--pidfile", "",
                "--save", "",
                "--appendonly", _options.AppendOnly ? "yes" : "no",
                "--appendfsync", _options.AppendFsync,
                .. _options.ExtraArguments,
            ];
            File.AppendAllText(LogPath, $"---- start at {DateTime.UtcNow:O}\n");
            _process = ChildProcess.Start(_options.Executable, arguments, Directory, LogPath);

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.StartTimeout);
            try
            {
                while (!await PingAsync(timeout.Token).ConfigureAwait(false))
                {
                    if (_process.HasExited)
                    {
                        throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode}.");
                    }

                    await Task.Delay(50, timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                await _process.DisposeAsync().ConfigureAwait(false);
                _process = null;
                throw new InvalidOperationException(
                    $"redis-server on port {Port} did not start within {_options.StartTimeout}. {e.Message}\n--- {LogPath}\n{LogFiles.Tail(LogPath, 30)}", e);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>SIGTERM (Redis shuts down cleanly, writing the append-only file if on), then kill after the stop timeout.</summary>
    public async Task StopAsync()
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_process is not null)
            {
                await _process.StopAsync(_options.StopTimeout).ConfigureAwait(false);
                await _process.DisposeAsync().ConfigureAwait(false);
                _process = null;
                await FreePort.WaitUntilClosedAsync(Port, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>SIGKILL: a crash. Returns when the process is gone.</summary>
    public async Task KillAsync()
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_process is not null)
            {
                await _process.KillAsync().ConfigureAwait(false);
                await _process.DisposeAsync().ConfigureAwait(false);
                _process = null;
                await FreePort.WaitUntilClosedAsync(Port, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Graceful stop (if running), then start on the same port and folder.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SIGSTOP: the server hangs with its sockets open.</summary>
    public void Pause() => (_process ?? throw new InvalidOperationException("Redis is not running.")).Pause();

    /// <summary>True after <see cref="Pause"/> once its processes no longer run.</summary>
    public bool IsPaused => _process is { HasExited: false, IsPaused: true };

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => (_process ?? throw new InvalidOperationException("Redis is not running.")).Resume();

    /// <summary>True when the server answers PING with PONG (false while it is down or still loading).</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), attempt.Token).ConfigureAwait(false);
            await socket.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None, attempt.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, attempt.Token).ConfigureAwait(false);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public string ReadLogTail(int lines = 60) => LogFiles.Tail(LogPath, lines);

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
            foreach (var file in System.IO.Directory.EnumerateFileSystemEntries(Directory))
            {
                if (file != LogPath)
                {
                    if (System.IO.Directory.Exists(file))
                    {
                        TestArtifacts.TryDelete(file);
                    }
                    else
                    {
                        File.Delete(file);
                    }
                }
            }
        }
    }
}
