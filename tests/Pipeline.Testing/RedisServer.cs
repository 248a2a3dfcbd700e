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
public sealed class RedisServer : LocalServer
{
    private readonly RedisServerOptions _options;

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

    public int? ProcessId => IsRunning ? Process!.Id : null;

    protected override string Description => "Redis";

    protected override int ListeningPort => Port;

    protected override TimeSpan StopTimeout => _options.StopTimeout;

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

    /// <summary>Launches redis-server (same port and folder as before) and waits until it answers PING with PONG.</summary>
    protected override async Task<ChildProcess> LaunchAsync(CancellationToken cancellationToken)
    {
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
        var process = ChildProcess.Start(_options.Executable, arguments, Directory, LogPath);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.StartTimeout);
        try
        {
            while (!await PingAsync(timeout.Token).ConfigureAwait(false))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with code {process.ExitCode}.");
                }

                await Task.Delay(50, timeout.Token).ConfigureAwait(false);
            }

            return process;
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(
                $"redis-server on port {Port} did not start within {_options.StartTimeout}. {e.Message}\n--- {LogPath}\n{LogFiles.Tail(LogPath, 30)}", e);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

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

    protected override void DeleteData()
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
