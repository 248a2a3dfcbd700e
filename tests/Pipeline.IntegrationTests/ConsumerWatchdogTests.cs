using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;
using Pipeline.Testing;
using RabbitMQ.Client;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The consumer watchdog against a real broker and a real MassTransit bus: it finds a queue the bus
/// calls ready that nobody consumes, never blames a consumer the broker has, and does not mistake a
/// broker restart, which the bus recovers from by itself, for a lost consumer.
/// </summary>
public sealed class ConsumerWatchdogTests(RabbitMqFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : RabbitMqTestBase(fixture)
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task The_probe_tells_a_consumed_queue_from_an_unconsumed_and_a_missing_one()
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync("watchdog-idle", durable: false, exclusive: false, autoDelete: false);
        await channel.QueueDeclareAsync("watchdog-read", durable: false, exclusive: false, autoDelete: false);
        await channel.BasicConsumeAsync("watchdog-read", autoAck: true, new AsyncDefaultBasicConsumer(channel));
        await using var probe = new RabbitMqQueueProbe(RabbitMqAddress.Parse(ConnectionString), "watchdog-tests");

        Assert.Equal(QueueConsumers.NoConsumer, await probe.ConsumersAsync("watchdog-idle", CancellationToken.None));
        Assert.Equal(QueueConsumers.Consumed, await probe.ConsumersAsync("watchdog-read", CancellationToken.None));
        Assert.Equal(QueueConsumers.Missing, await probe.ConsumersAsync("watchdog-no-such-queue", CancellationToken.None));
        // A 404 closes the probe's channel, not its connection: the next look still answers.
        Assert.Equal(QueueConsumers.NoConsumer, await probe.ConsumersAsync("watchdog-idle", CancellationToken.None));
    }

    [Fact]
    public async Task The_probe_knows_nothing_of_a_broker_it_cannot_reach()
    {
        var nobody = FreePort.Next();
        await using var probe = new RabbitMqQueueProbe(new RabbitMqAddress("127.0.0.1", (ushort)nobody, "/", "guest", "guest"), "watchdog-tests");

        Assert.Equal(QueueConsumers.Unknown, await probe.ConsumersAsync("anything", CancellationToken.None));
    }

    [Fact]
    public async Task A_queue_the_bus_calls_ready_but_nobody_consumes_is_found_and_a_consumed_one_never_is()
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("watchdog-orphan", durable: true, exclusive: false, autoDelete: false);
        }

        var (watchdog, _) = Watchdog();
        var bus = Bus(watchdog, "watchdog-consumed");
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            // What the bus would report for an endpoint whose channel died unnoticed.
            await watchdog.Ready(new Ready(new Uri($"rabbitmq://127.0.0.1:{Broker.AmqpPort}/{VirtualHost}/watchdog-orphan")));
            var clock = Stopwatch.StartNew();
            string? lost = null;
            while (lost is null && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                lost = (await watchdog.LookAsync(CancellationToken.None))?.Queue;
                await Task.Delay(200);
            }

            Assert.Equal("watchdog-orphan", lost);
            Assert.True(clock.Elapsed >= Grace, $"found after {clock.Elapsed}, before the grace period");
        }
        finally
        {
            await bus.StopBoundedAsync();
        }
    }

    [Fact]
    public async Task A_broker_restart_the_bus_recovers_from_is_not_a_lost_consumer()
    {
        var (watchdog, _) = Watchdog();
        var received = new TaskCompletionSource<BrokerPing>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = Bus(watchdog, "watchdog-restarted", received);
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            await WaitUntilAsync(async () => await watchdog.LookAsync(CancellationToken.None) is null
                && await Broker.QueueDepthAsync(VirtualHost, "watchdog-restarted") is not null, TimeSpan.FromSeconds(20));
            await Broker.RestartAsync();

            // Three grace periods of looks while the bus reconnects: none finds a lost consumer.
            var looking = Stopwatch.StartNew();
            while (looking.Elapsed < 3 * Grace)
            {
                Assert.Null(await watchdog.LookAsync(CancellationToken.None));
                await Task.Delay(250);
            }

            // And the bus did recover: a message published now is consumed.
            var sent = new BrokerPing(Guid.NewGuid(), "after the restart");
            await bus.PublishBoundedAsync(sent);
            Assert.Equal(sent, await received.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            await bus.StopBoundedAsync();
        }
    }

    /// <summary>
    /// A handler that never returns, on a real broker: the queue keeps its consumer, so only the
    /// time the message has spent in its handler can tell. The watchdog names the queue after the
    /// consume timeout, and a queue whose handlers finish is never named.
    /// </summary>
    [Fact]
    public async Task A_message_stuck_in_its_handler_is_found_although_its_queue_has_a_consumer()
    {
        var (watchdog, _) = Watchdog(consumeTimeout: TimeSpan.FromSeconds(2));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = RabbitBus(cfg => cfg.ReceiveEndpoint("watchdog-stuck", e => e.Handler<StuckPing>(async _ =>
        {
            stuck.TrySetResult();
            await release.Task;
        })));
        bus.ConnectReceiveEndpointObserver(watchdog);
        bus.ConnectReceiveObserver(watchdog);
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            await bus.PublishBoundedAsync(new StuckPing(1));
            await stuck.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Null(await watchdog.LookAsync(CancellationToken.None));
            Assert.Equal(QueueConsumers.Consumed, await ProbeAsync("watchdog-stuck"));

            var clock = Stopwatch.StartNew();
            LostConsumer? lost = null;
            while (lost is null && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(200);
                lost = await watchdog.LookAsync(CancellationToken.None);
            }

            Assert.Equal("watchdog-stuck", lost?.Queue);
            Assert.Equal(QueueConsumers.Consumed, await ProbeAsync("watchdog-stuck"));
        }
        finally
        {
            release.TrySetResult();
            await bus.StopBoundedAsync();
        }
    }

    private async Task<QueueConsumers> ProbeAsync(string queue)
    {
        await using var probe = new RabbitMqQueueProbe(RabbitMqAddress.Parse(ConnectionString), "watchdog-tests");
        return await probe.ConsumersAsync(queue, CancellationToken.None);
    }

    public sealed record StuckPing(int N);

    /// <summary>
    /// The fault itself, reproduced: consumers on one connection, one endpoint busy with 16
    /// deliveries that publish as they go, and a graceful broker restart. With MassTransit 8.5.12
    /// and RabbitMQ.Client 7.2.2 the bus comes back with some endpoints still "ready" on channels
    /// the broker no longer has (two runs of two, and in the fault tests). Whatever the bus does,
    /// the watchdog must name exactly such a queue, and a new bus (the restarted service) must
    /// consume every message.
    /// </summary>
    [Fact]
    public async Task After_a_graceful_broker_restart_mid_message_the_watchdog_names_a_queue_left_without_consumer_and_a_restart_loses_nothing()
    {
        const int Messages = 64;
        var (watchdog, _) = Watchdog();
        var handled = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = BusyBus(handled, busy);
        bus.ConnectReceiveEndpointObserver(watchdog);
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        string? lost = null;
        try
        {
            await RestartMidMessageAsync(bus, busy, Messages);

            // Looks for as long as the bus may take to reconnect everything by itself, and more.
            var looking = Stopwatch.StartNew();
            while (lost is null && looking.Elapsed < TimeSpan.FromSeconds(45))
            {
                lost = (await watchdog.LookAsync(CancellationToken.None))?.Queue;
                await Task.Delay(500);
            }

            var consumers = await ConsumersAsync();
            var unconsumed = consumers.Where(q => q.Value == 0).Select(q => q.Key).Order().ToArray();
            output.WriteLine($"after {looking.Elapsed.TotalSeconds:F1} s: lost {lost ?? "none"}; consumers {string.Join(", ", consumers.Select(q => $"{q.Key}={q.Value}"))}");
            if (lost is null)
            {
                // The bus recovered every endpoint this time: then no queue may be left unread.
                Assert.Empty(unconsumed);
            }
            else
            {
                Assert.Contains(lost, unconsumed);
            }
        }
        finally
        {
            // The endpoints on dead channels may never stop: the process would exit here.
            await bus.StopBoundedAsync(TimeSpan.FromSeconds(20));
        }

        // What the supervisor does: a new process, a new bus, the same queues.
        var restarted = BusyBus(handled, new TaskCompletionSource());
        await restarted.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            await WaitUntilAsync(() => Task.FromResult(handled.Count == Messages), TimeSpan.FromSeconds(60));
            await WaitUntilAsync(async () => (await ConsumersAsync()).Values.All(c => c > 0), TimeSpan.FromSeconds(30));
        }
        finally
        {
            await restarted.StopBoundedAsync();
        }
    }

    /// <summary>
    /// The same restart, with the handlers publishing as the services do, each publish bounded by a
    /// deadline: a handler whose confirmation died with its channel fails at the deadline instead of
    /// waiting for ever, and the bus then recovers by itself. The same bus handles all 64 messages,
    /// every queue has its consumer again, no message stays in a handler, and the watchdog, even with
    /// a consume timeout of 20 s, finds nothing. (With the unbounded publish above, some endpoint
    /// came back without consumer in every run.)
    /// </summary>
    [Fact]
    public async Task After_a_graceful_broker_restart_mid_message_handlers_with_a_publish_deadline_end_and_the_bus_recovers_by_itself()
    {
        const int Messages = 64;
        var (watchdog, _) = Watchdog(consumeTimeout: TimeSpan.FromSeconds(20));
        var handled = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = BusyBus(handled, busy, new PublishDeadline(TimeSpan.FromSeconds(3)));
        bus.ConnectReceiveEndpointObserver(watchdog);
        bus.ConnectReceiveObserver(watchdog);
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            await RestartMidMessageAsync(bus, busy, Messages);
            var restarted = Stopwatch.StartNew();

            await WaitUntilAsync(() => Task.FromResult(handled.Count == Messages), TimeSpan.FromSeconds(90));
            await WaitUntilAsync(async () => (await ConsumersAsync()).Values.All(c => c > 0), TimeSpan.FromSeconds(30));
            await WaitUntilAsync(() => Task.FromResult(watchdog.InFlight == 0), TimeSpan.FromSeconds(30));
            output.WriteLine($"{restarted.Elapsed.TotalSeconds:F1} s after the restart: {handled.Count} handled, nothing in flight, consumers {string.Join(", ", (await ConsumersAsync()).Select(q => $"{q.Key}={q.Value}"))}");
            Assert.Null(await watchdog.LookAsync(CancellationToken.None));
        }
        finally
        {
            await bus.StopBoundedAsync(TimeSpan.FromSeconds(20));
        }
    }

    /// <param name="publishDeadline">Null: the handlers publish as MassTransit does by default, waiting
    /// for the confirmation without end; else they use the services' bounded publish.</param>
    private IBusControl BusyBus(System.Collections.Concurrent.ConcurrentDictionary<int, int> handled, TaskCompletionSource busy, PublishDeadline? publishDeadline = null) =>
        RabbitBus(cfg =>
        {
            cfg.ReceiveEndpoint("watchdog-quiet-1", e => e.Handler<BrokerPing>(_ => Task.CompletedTask));
            cfg.ReceiveEndpoint("watchdog-busy", e =>
            {
                e.PrefetchCount = 16;
                e.Handler<BusyPing>(async context =>
                {
                    busy.TrySetResult();
                    for (var i = 0; i < 40; i++)
                    {
                        if (publishDeadline is null)
                        {
                            await context.Publish(new QuietPing(context.Message.N));
                        }
                        else
                        {
                            await context.PublishWithinAsync(new QuietPing(context.Message.N), publishDeadline, context.CancellationToken);
                        }
                        await Task.Delay(50);
                    }

                    handled.AddOrUpdate(context.Message.N, 1, (_, n) => n + 1);
                });
            });
            cfg.ReceiveEndpoint("watchdog-quiet-2", e => e.Handler<QuietPing>(_ => Task.CompletedTask));
        });

    /// <summary>Consumers per queue of this class's virtual host, as rabbitmqctl lists them.</summary>
    private async Task<Dictionary<string, int>> ConsumersAsync()
    {
        var listed = (await Broker.RabbitMqCtlAsync(["list_queues", "-p", VirtualHost, "--no-table-headers", "--quiet", "name", "consumers"])).EnsureSuccess();
        return listed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .Where(parts => parts.Length == 2 && (parts[0] == "watchdog-busy" || parts[0].StartsWith("watchdog-quiet", StringComparison.Ordinal)))
            .ToDictionary(parts => parts[0], parts => int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    public sealed record BusyPing(int N);

    public sealed record QuietPing(int N);

    private (ConsumerWatchdog Watchdog, IHostApplicationLifetime Lifetime) Watchdog(TimeSpan? consumeTimeout = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bus:ConsumerWatchdog:GraceSeconds"] = Grace.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Bus:ConsumerWatchdog:ConsumeTimeoutSeconds"] = (consumeTimeout ?? TimeSpan.FromMinutes(5)).TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();
        var lifetime = new NoLifetime();
        var probe = new RabbitMqQueueProbe(RabbitMqAddress.Parse(ConnectionString), "watchdog-tests");
        return (new ConsumerWatchdog("watchdog-", probe, lifetime, TimeProvider.System, configuration, NullLogger<ConsumerWatchdog>.Instance), lifetime);
    }

    private IBusControl Bus(ConsumerWatchdog watchdog, string queue, TaskCompletionSource<BrokerPing>? received = null)
    {
        var bus = RabbitBus(cfg =>
        {
            cfg.ReceiveEndpoint(queue, e => e.Handler<BrokerPing>(context =>
            {
                received?.TrySetResult(context.Message);
                return Task.CompletedTask;
            }));
        });
        bus.ConnectReceiveEndpointObserver(watchdog);
        return bus;
    }

    /// <summary>Publishes <paramref name="messages"/> BusyPings and restarts the broker gracefully once the busy handlers are at work.</summary>
    private async Task RestartMidMessageAsync(IBusControl bus, TaskCompletionSource busy, int messages)
    {
        for (var i = 0; i < messages; i++)
        {
            await bus.PublishBoundedAsync(new BusyPing(i));
        }

        await busy.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await Broker.RestartAsync();
    }

    /// <summary>A bus on this class's virtual host, with publisher confirms as the services have them, and the given endpoints.</summary>
    private IBusControl RabbitBus(Action<IRabbitMqBusFactoryConfigurator> endpoints) =>
        MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)Broker.AmqpPort, VirtualHost, h =>
            {
                h.Username("guest");
                h.Password("guest");
                h.PublisherConfirmation = true;
            });
            endpoints(cfg);
        });

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"Not true within {timeout}.");
            }

            await Task.Delay(100);
        }
    }

    private sealed record Ready(Uri InputAddress) : ReceiveEndpointReady
    {
        public bool IsStarted => true;

        public IReceiveEndpoint ReceiveEndpoint => null!;
    }

    private sealed class NoLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => throw new InvalidOperationException("The watchdog stopped the application.");
    }
}
