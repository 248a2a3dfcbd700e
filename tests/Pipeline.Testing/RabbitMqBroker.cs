using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Pipeline.Testing.Processes;

namespace Pipeline.Testing;

/// <summary>Settings of a <see cref="RabbitMqBroker"/>.</summary>
public sealed record RabbitMqBrokerOptions
{
    /// <summary>Where the Debian package keeps the real scripts (the /usr/sbin ones su to the rabbitmq user).</summary>
    public string BinDirectory { get; init; } = "/usr/lib/rabbitmq/bin";

    /// <summary>How long a start may take before it counts as failed.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>How long a graceful stop may take before the node is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Extra lines for rabbitmq.conf (new-style sysctl format).</summary>
    public IReadOnlyList<string> ConfigLines { get; init; } = [];
}

/// <summary>
/// A private RabbitMQ node started from the Debian package's binaries: its own node name
/// (<c>pipeline-test-&lt;random&gt;@localhost</c>), AMQP and distribution ports on 127.0.0.1 that were free,
/// data, logs, config, an empty plugin list and the Erlang cookie in a folder of its own. It runs as
/// root, needs no system service, and can be stopped, killed, paused and restarted on the same
/// ports and data (durable queues and persistent messages survive). Disposing kills every process
/// it started; epmd, the shared Erlang port mapper daemon, is left running as intended.
/// </summary>
public sealed class RabbitMqBroker : LocalServer
{
    private const string CliDistPortMin = "35672";
    private const string CliDistPortMax = "35772";

    private readonly RabbitMqBrokerOptions _options;
    private int _starts;

    public RabbitMqBroker(RabbitMqBrokerOptions? options = null)
    {
        _options = options ?? new RabbitMqBrokerOptions();
        NodeName = $"pipeline-test-{Guid.NewGuid().ToString("N")[..10]}@localhost";
        // The CLI tools take distribution ports from 35672 upward; keep the node out of their way.
        bool Avoid(int p) => p is >= 35672 and <= 35772 or 4369 or 5672 or 15672 or 25672;
        AmqpPort = FreePort.Next(Avoid);
        DistributionPort = FreePort.Next(Avoid);
        Directory = TestArtifacts.NewDirectory("rabbitmq");
        WriteFiles();
    }

    /// <summary>The Erlang node name, for <c>rabbitmqctl -n</c>.</summary>
    public string NodeName { get; }

    public int AmqpPort { get; }

    /// <summary>The Erlang distribution port (inter-node and CLI traffic).</summary>
    public int DistributionPort { get; }

    /// <summary>The node's own folder: config, data (mnesia), logs, HOME with the Erlang cookie.</summary>
    public string Directory { get; }

    /// <summary>The node's main log.</summary>
    public string LogPath => Path.Combine(Directory, "log", NodeName + ".log");

    /// <summary>stdout and stderr of rabbitmq-server (banner, boot failures before logging starts).</summary>
    public string ConsoleLogPath => Path.Combine(Directory, "log", "console.log");

    /// <summary>How long the last successful start took, until AMQP answered and await_startup succeeded.</summary>
    public TimeSpan? LastStartDuration { get; private set; }

    /// <summary>The process id of the Erlang VM (beam.smp), from the pid file, while running.</summary>
    public int? ErlangProcessId =>
        IsRunning && File.Exists(PidFile) && int.TryParse(File.ReadAllText(PidFile).Trim(), out var pid) ? pid : null;

    /// <summary>
    /// Every live process of the node: the rabbitmq-server shell wrapper, the Erlang VM, and its helpers
    /// (erl_child_setup, inet_gethost, the disk monitor shell). Not epmd, which is shared and detached.
    /// </summary>
    public IReadOnlyList<int> Processes() =>
        Process is { HasExited: false } p ? [p.Id, .. ProcessTable.Descendants(p.Id)] : [];

    private string PidFile => Path.Combine(Directory, "rabbitmq.pid");

    private string Home => Path.Combine(Directory, "home");

    /// <summary>Creates a broker and starts it.</summary>
    public static async Task<RabbitMqBroker> StartNewAsync(RabbitMqBrokerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var broker = new RabbitMqBroker(options);
        try
        {
            await broker.StartAsync(cancellationToken).ConfigureAwait(false);
            return broker;
        }
        catch
        {
            await broker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The connection string for <paramref name="virtualHost"/>:
    /// <c>amqp://guest:guest@127.0.0.1:&lt;port&gt;/&lt;escaped vhost&gt;</c> (guest may connect from loopback only).
    /// </summary>
    public string ConnectionString(string virtualHost = "/") =>
        $"amqp://guest:guest@127.0.0.1:{AmqpPort}/{Uri.EscapeDataString(virtualHost)}";

    /// <summary>
    /// Launches the node (on the same ports and data as before, if it ran before) and waits until it
    /// accepts AMQP connections and <c>rabbitmqctl await_startup</c> succeeds.
    /// </summary>
    protected override async Task<ChildProcess> LaunchAsync(CancellationToken cancellationToken)
    {
        var server = Path.Combine(_options.BinDirectory, "rabbitmq-server");
        if (!File.Exists(server))
        {
            throw new FileNotFoundException($"{server} is missing: apt-get install -y rabbitmq-server.", server);
        }

        File.Delete(PidFile);
        _starts++;
        File.AppendAllText(ConsoleLogPath, $"---- start #{_starts} at {DateTime.UtcNow:O}\n");
        var process = ChildProcess.Start(server, [], Directory, ConsoleLogPath, Environment());

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.StartTimeout);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await WaitForAmqpAsync(process, timeout.Token).ConfigureAwait(false);
            var amqp = stopwatch.Elapsed;
            var ready = await CtlAsync(["await_startup", "--timeout", "60"], TimeSpan.FromSeconds(70), timeout.Token).ConfigureAwait(false);
            if (!ready.Succeeded)
            {
                throw new InvalidOperationException($"rabbitmqctl await_startup failed:\n{ready.Output}");
            }

            LastStartDuration = stopwatch.Elapsed;
            File.AppendAllText(ConsoleLogPath, $"---- AMQP answered after {amqp.TotalSeconds:F1} s, await_startup done after {stopwatch.Elapsed.TotalSeconds:F1} s\n");
            return process;
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            var exited = process.HasExited ? $"rabbitmq-server exited with code {process.ExitCode}" : "rabbitmq-server is still running";
            await process.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(
                $"RabbitMQ node {NodeName} (AMQP {AmqpPort}, distribution {DistributionPort}) did not start within {_options.StartTimeout}; {exited}. {e.Message}\n"
                + $"--- {ConsoleLogPath}\n{LogFiles.Tail(ConsoleLogPath, 30)}\n--- {LogPath}\n{LogFiles.Tail(LogPath, 40)}",
                e);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override string Description => "The broker";

    protected override int ListeningPort => AmqpPort;

    protected override TimeSpan StopTimeout => _options.StopTimeout;

    /// <summary>rabbitmq-server turns SIGTERM into an orderly shutdown (about 4 s); the console log records how long.</summary>
    protected override void OnStopped(TimeSpan elapsed) =>
        File.AppendAllText(ConsoleLogPath, $"---- stopped after {elapsed.TotalSeconds:F1} s\n");

    /// <summary>Creates a virtual host (if missing) and gives guest full permissions on it.</summary>
    public async Task CreateVirtualHostAsync(string name, CancellationToken cancellationToken = default)
    {
        var add = await CtlAsync(["add_vhost", name], null, cancellationToken).ConfigureAwait(false);
        if (!add.Succeeded && !add.Output.Contains("already exists", StringComparison.OrdinalIgnoreCase))
        {
            add.EnsureSuccess();
        }

        (await CtlAsync(["set_permissions", "-p", name, "guest", ".*", ".*", ".*"], null, cancellationToken).ConfigureAwait(false))
            .EnsureSuccess();
    }

    /// <summary>Deletes a virtual host with everything in it.</summary>
    public async Task DeleteVirtualHostAsync(string name, CancellationToken cancellationToken = default) =>
        (await CtlAsync(["delete_vhost", name], null, cancellationToken).ConfigureAwait(false)).EnsureSuccess();

    /// <summary>Message count (ready plus unacknowledged) of every queue in <paramref name="virtualHost"/>.</summary>
    public async Task<IReadOnlyDictionary<string, long>> ListQueuesAsync(string virtualHost, CancellationToken cancellationToken = default)
    {
        var result = (await CtlAsync(["list_queues", "-q", "--no-table-headers", "-p", virtualHost, "name", "messages"], null, cancellationToken)
            .ConfigureAwait(false)).EnsureSuccess();
        var queues = new Dictionary<string, long>();
        foreach (var line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var tab = line.LastIndexOf('\t');
            if (tab > 0 && long.TryParse(line[(tab + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            {
                queues[line[..tab]] = count;
            }
        }

        return queues;
    }

    /// <summary>Message count (ready plus unacknowledged) of one queue, or null if it does not exist.</summary>
    public async Task<long?> QueueDepthAsync(string virtualHost, string queue, CancellationToken cancellationToken = default) =>
        (await ListQueuesAsync(virtualHost, cancellationToken).ConfigureAwait(false)).TryGetValue(queue, out var count) ? count : null;

    /// <summary>Runs <c>rabbitmqctl -n &lt;node&gt; &lt;arguments&gt;</c> against this node.</summary>
    public Task<CommandResult> RabbitMqCtlAsync(IEnumerable<string> arguments, CancellationToken cancellationToken = default) =>
        CtlAsync(arguments, null, cancellationToken);

    /// <summary>
    /// Runs <c>rabbitmq-plugins -n &lt;node&gt; &lt;arguments&gt;</c> against this node (<c>enable rabbitmq_shovel</c>
    /// works on the running node and is kept in its plugin file across restarts).
    /// </summary>
    public Task<CommandResult> RabbitMqPluginsAsync(IEnumerable<string> arguments, CancellationToken cancellationToken = default) =>
        CommandLine.RunAsync(
            Path.Combine(_options.BinDirectory, "rabbitmq-plugins"),
            ["-n", NodeName, .. arguments],
            Environment(),
            TimeSpan.FromSeconds(60),
            Directory,
            cancellationToken);

    /// <summary>The last lines of the node's log.</summary>
    public string ReadLogTail(int lines = 60) => LogFiles.Tail(LogPath, lines);

    protected override void DeleteData() => TestArtifacts.TryDelete(Path.Combine(Directory, "mnesia"));

    private Task<CommandResult> CtlAsync(IEnumerable<string> arguments, TimeSpan? timeout, CancellationToken cancellationToken) =>
        CommandLine.RunAsync(
            Path.Combine(_options.BinDirectory, "rabbitmqctl"),
            ["-n", NodeName, .. arguments],
            Environment(),
            timeout ?? TimeSpan.FromSeconds(60),
            Directory,
            cancellationToken);

    private Dictionary<string, string?> Environment() => new()
    {
        // The cookie lives in $HOME/.erlang.cookie; the node creates it, the CLI reads it.
        ["HOME"] = Home,
        ["LANG"] = "C.UTF-8",
        ["LC_ALL"] = "C.UTF-8",
        ["RABBITMQ_NODENAME"] = NodeName,
        ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(CultureInfo.InvariantCulture),
        ["RABBITMQ_DIST_PORT"] = DistributionPort.ToString(CultureInfo.InvariantCulture),
        ["RABBITMQ_MNESIA_BASE"] = Path.Combine(Directory, "mnesia"),
        ["RABBITMQ_LOG_BASE"] = Path.Combine(Directory, "log"),
        ["RABBITMQ_CONFIG_FILE"] = Path.Combine(Directory, "rabbitmq.conf"),
        ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(Directory, "advanced.config"),
        ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(Directory, "rabbitmq-env.conf"),
        ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(Directory, "enabled_plugins"),
        ["RABBITMQ_PID_FILE"] = PidFile,
        // Distribution only on loopback; a port mapper this node starts listens on loopback only.
        ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
        ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_CTL_DIST_PORT_MIN"] = CliDistPortMin,
        ["RABBITMQ_CTL_DIST_PORT_MAX"] = CliDistPortMax,
        // Inherited settings that would move the node elsewhere.
        ["RABBITMQ_NODE_ONLY"] = null,
        ["RABBITMQ_ALLOW_INPUT"] = null,
        ["RABBITMQ_LOGS"] = null,
        ["RABBITMQ_USE_LONGNAME"] = null,
    };

    private void WriteFiles()
    {
        System.IO.Directory.CreateDirectory(Home);
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "mnesia"));
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "log"));
        File.WriteAllText(Path.Combine(Directory, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(Directory, "rabbitmq-env.conf"), "");
        File.WriteAllText(Path.Combine(Directory, "advanced.config"), "[].\n");
        File.WriteAllLines(Path.Combine(Directory, "rabbitmq.conf"),
        [
            "log.file.level = info",
            "log.console = false",
            // Tests run in /tmp on small disks: do not block publishers at the 50 MB default.
            "disk_free_limit.absolute = 1MB",
            .. _options.ConfigLines,
        ]);
    }

    /// <summary>Polls until the node answers the AMQP 0-9-1 protocol header with a Connection.Start frame.</summary>
    private async Task WaitForAmqpAsync(ChildProcess process, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"rabbitmq-server exited with code {process.ExitCode} during startup.");
            }

            if (await AmqpAnswersAsync(AmqpPort, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True when 127.0.0.1:<paramref name="port"/> answers "AMQP 0 0 9 1" with a method frame.</summary>
    internal static async Task<bool> AmqpAnswersAsync(int port, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), attempt.Token).ConfigureAwait(false);
            await socket.SendAsync("AMQP\0\0\u0009\u0001"u8.ToArray(), SocketFlags.None, attempt.Token).ConfigureAwait(false);
            var buffer = new byte[1];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, attempt.Token).ConfigureAwait(false);
            return read == 1 && buffer[0] == 1; // frame type 1: method (connection.start)
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
}
