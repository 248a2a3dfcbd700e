using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.ServiceDefaults.Tests;

public sealed class ConsumerWatchdogSpecs
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
    private readonly ScriptedProbe _probe = new();
    private readonly Lifetime _lifetime = new();

    [Theory]
    [InlineData("rabbitmq://127.0.0.1:5672/pipeline/rank-digest-sent", "rank-digest-sent")]
    [InlineData("rabbitmq://rabbitmq/rank-paper-embedded", "rank-paper-embedded")]
    [InlineData("rabbitmq://127.0.0.1:5672/v/host_bus_abc?temporary=true", "host_bus_abc")]
    [InlineData("rabbitmq://127.0.0.1:5672/a%2Fb/notify-paper-matched/", "notify-paper-matched")]
    public void The_queue_is_the_last_segment_of_the_endpoint_address(string address, string queue)
    {
        Assert.Equal(queue, ConsumerWatchdog.QueueName(new Uri(address)));
    }

    [Theory]
    [InlineData("rabbitmq://127.0.0.1:5672/pipeline/vm_PipelineRank_bus_8fmyyydk86sb?temporary=true", true)]
    [InlineData("rabbitmq://127.0.0.1:5672/pipeline/reply?durable=false&autodelete=true", true)]
    [InlineData("rabbitmq://127.0.0.1:5672/pipeline/rank-digest-sent", false)]
    public void The_bus_s_temporary_reply_endpoint_is_not_watched(string address, bool temporary)
    {
        Assert.Equal(temporary, ConsumerWatchdog.IsTemporary(new Uri(address)));
    }

    [Fact]
    public async Task It_looks_only_at_the_queues_the_bus_reports_ready_and_names_the_one_lost()
    {
        var watchdog = Watchdog();
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/vm_host_bus_abc?temporary=true")));
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/vm_PipelineRank_bus_8fmyyydk86sb")));
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/embed-paper-ingested")));
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/rank-digest-sent")));
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/rank-paper-embedded")));
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/rank-subscriber-changed")));
        await watchdog.Faulted(new EndpointFaulted(new Uri("rabbitmq://h/v/rank-subscriber-changed")));
        _probe.States["rank-digest-sent"] = QueueConsumers.NoConsumer;
        _probe.States["rank-paper-embedded"] = QueueConsumers.Consumed;
        _probe.States["rank-subscriber-changed"] = QueueConsumers.NoConsumer; // reconnecting: not ours to judge

        Assert.Null(await watchdog.LookAsync(CancellationToken.None));
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("rank-digest-sent", (await watchdog.LookAsync(CancellationToken.None))?.Queue);
        Assert.DoesNotContain("rank-subscriber-changed", _probe.Asked);
        Assert.DoesNotContain("vm_host_bus_abc", _probe.Asked);
        Assert.DoesNotContain("vm_PipelineRank_bus_8fmyyydk86sb", _probe.Asked);
        Assert.DoesNotContain("embed-paper-ingested", _probe.Asked); // another service's queue
    }

    [Fact]
    public async Task A_lost_consumer_stops_the_service_with_exit_code_75_and_fails_the_health_check()
    {
        var exitCode = Environment.ExitCode;
        try
        {
            var watchdog = Watchdog(intervalSeconds: 0.05, graceSeconds: 0.2, realClock: true);
            await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/rank-digest-sent")));
            _probe.States["rank-digest-sent"] = QueueConsumers.NoConsumer;
            Assert.Equal(HealthStatus.Healthy, (await watchdog.CheckHealthAsync(new HealthCheckContext())).Status);

            await watchdog.StartAsync(CancellationToken.None);

            await AssertStoppedForAsync(watchdog, "rank-digest-sent", "Queue rank-digest-sent has had no consumer");
        }
        finally
        {
            Environment.ExitCode = exitCode;
        }
    }

    [Fact]
    public async Task Consumers_that_stay_registered_never_stop_the_service()
    {
        var watchdog = Watchdog(intervalSeconds: 0.02, graceSeconds: 0.1, realClock: true);
        await watchdog.Ready(new EndpointReady(new Uri("rabbitmq://h/v/rank-q")));
        _probe.States["rank-q"] = QueueConsumers.Consumed;

        await watchdog.StartAsync(CancellationToken.None);
        await _probe.WaitForLooksAsync(20, TimeSpan.FromSeconds(20));
        await watchdog.StopAsync(CancellationToken.None);

        Assert.False(_lifetime.Stopped.Task.IsCompleted);
        Assert.Null(watchdog.LostQueue);
    }

    /// <summary>
    /// A handler that never returns (as one waiting for a confirmation its channel lost) holds its
    /// message and one of the endpoint's slots while the queue keeps its consumer: the watchdog names
    /// the queue once the message has been in its handler for the consume timeout, and only then.
    /// A real bus (in memory) tells the watchdog of its messages.
    /// </summary>
    [Fact]
    public async Task A_message_stuck_in_its_handler_past_the_consume_timeout_is_found_and_one_that_finishes_is_not()
    {
        var watchdog = Watchdog(consumeTimeoutSeconds: 300);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = 0;
        var bus = Bus.Factory.CreateUsingInMemory(cfg =>
        {
            cfg.ReceiveEndpoint("rank-stuck", e => e.Handler<Stuck>(async _ =>
            {
                stuck.TrySetResult();
                await release.Task;
            }));
            cfg.ReceiveEndpoint("rank-quick", e => e.Handler<Quick>(_ =>
            {
                Interlocked.Increment(ref handled);
                return Task.CompletedTask;
            }));
            // Another service's queue on the same bus is not this watchdog's to judge.
            cfg.ReceiveEndpoint("embed-stuck", e => e.Handler<Elsewhere>(_ => release.Task));
        });
        bus.ConnectReceiveObserver(watchdog);
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            await bus.Publish(new Elsewhere());
            for (var i = 0; i < 5; i++)
            {
                await bus.Publish(new Quick());
            }

            await WaitUntilAsync(() => Volatile.Read(ref handled) == 5);
            await bus.Publish(new Stuck());
            await stuck.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(1, watchdog.InFlight);

            _clock.Advance(TimeSpan.FromSeconds(299));
            Assert.Null(await watchdog.LookAsync(CancellationToken.None));
            _clock.Advance(TimeSpan.FromSeconds(1));
            var lost = await watchdog.LookAsync(CancellationToken.None);

            Assert.Equal("rank-stuck", lost?.Queue);
            Assert.Contains("in its handler for 300 s", lost?.Why);

            // Once it finishes, nothing is in flight and nothing is found.
            release.TrySetResult();
            await WaitUntilAsync(() => watchdog.InFlight == 0);
            _clock.Advance(TimeSpan.FromSeconds(600));
            Assert.Null(await watchdog.LookAsync(CancellationToken.None));
        }
        finally
        {
            release.TrySetResult();
            await bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        }
    }

    [Fact]
    public async Task A_stuck_message_stops_the_service_with_exit_code_75_and_the_health_check_names_it()
    {
        var exitCode = Environment.ExitCode;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = Bus.Factory.CreateUsingInMemory(cfg => cfg.ReceiveEndpoint("rank-stuck", e => e.Handler<Stuck>(_ => release.Task)));
        try
        {
            var watchdog = Watchdog(intervalSeconds: 0.05, consumeTimeoutSeconds: 0.3, realClock: true);
            bus.ConnectReceiveObserver(watchdog);
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            await watchdog.StartAsync(CancellationToken.None);
            await bus.Publish(new Stuck());

            await AssertStoppedForAsync(watchdog, "rank-stuck", "A message of queue rank-stuck has been in its handler");
        }
        finally
        {
            Environment.ExitCode = exitCode;
            release.TrySetResult();
            await bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        }
    }

    /// <summary>The watchdog stops the service with exit code 75, names the queue, and its health check says why.</summary>
    private async Task AssertStoppedForAsync(ConsumerWatchdog watchdog, string queue, string why)
    {
        await _lifetime.Stopped.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(ConsumerWatchdog.ExitCode, Environment.ExitCode);
        Assert.Equal(queue, watchdog.LostQueue);
        var health = await watchdog.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, health.Status);
        Assert.Contains(why, health.Description);
        await watchdog.StopAsync(CancellationToken.None);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    public sealed record Stuck;

    public sealed record Quick;

    public sealed record Elsewhere;

    private ConsumerWatchdog Watchdog(double intervalSeconds = 10, double graceSeconds = 30, double consumeTimeoutSeconds = 300, bool realClock = false)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bus:ConsumerWatchdog:IntervalSeconds"] = intervalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Bus:ConsumerWatchdog:GraceSeconds"] = graceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Bus:ConsumerWatchdog:ConsumeTimeoutSeconds"] = consumeTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();
        return new ConsumerWatchdog("rank-", _probe, _lifetime, realClock ? TimeProvider.System : _clock, configuration, NullLogger<ConsumerWatchdog>.Instance);
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }

    private sealed class ScriptedProbe : IQueueProbe
    {
        private int _looks;

        public Dictionary<string, QueueConsumers> States { get; } = [];

        public List<string> Asked { get; } = [];

        public Task<QueueConsumers> ConsumersAsync(string queue, CancellationToken cancellationToken)
        {
            lock (Asked)
            {
                Asked.Add(queue);
            }

            Interlocked.Increment(ref _looks);
            return Task.FromResult(States.GetValueOrDefault(queue, QueueConsumers.Unknown));
        }

        public async Task WaitForLooksAsync(int looks, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (Volatile.Read(ref _looks) < looks)
            {
                await Task.Delay(10, cts.Token);
            }
        }
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stopped.TrySetResult();
    }

    private sealed record EndpointReady(Uri InputAddress) : ReceiveEndpointReady
    {
        public bool IsStarted => true;

        public IReceiveEndpoint ReceiveEndpoint => null!;
    }

    private sealed record EndpointFaulted(Uri InputAddress) : ReceiveEndpointFaulted
    {
        public Exception Exception => new InvalidOperationException("connection lost");

        public IReceiveEndpoint ReceiveEndpoint => null!;
    }
}
