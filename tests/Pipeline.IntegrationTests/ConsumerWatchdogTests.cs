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
public sealed class ConsumerWatchdogTests(RabbitMqFixture fixture) : RabbitMqTestBase(fixture)
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
                lost = await watchdog.LookAsync(CancellationToken.None);
                await Task.Delay(200);
            }

            Assert.Equal("watchdog-orphan", lost);
            Assert.True(clock.Elapsed >= Grace, $"found after {clock.Elapsed}, before the grace period");
        }
        finally
        {
            await bus.StopAsync();
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
            await bus.Publish(sent);
            Assert.Equal(sent, await received.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    private (ConsumerWatchdog Watchdog, IHostApplicationLifetime Lifetime) Watchdog()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bus:ConsumerWatchdog:GraceSeconds"] = Grace.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();
        var lifetime = new NoLifetime();
        var probe = new RabbitMqQueueProbe(RabbitMqAddress.Parse(ConnectionString), "watchdog-tests");
        return (new ConsumerWatchdog("watchdog-", probe, lifetime, TimeProvider.System, configuration, NullLogger<ConsumerWatchdog>.Instance), lifetime);
    }

    private IBusControl Bus(ConsumerWatchdog watchdog, string queue, TaskCompletionSource<BrokerPing>? received = null)
    {
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)Broker.AmqpPort, VirtualHost, h =>
            {
                h.Username("guest");
                h.Password("guest");
            });
            cfg.ReceiveEndpoint(queue, e => e.Handler<BrokerPing>(context =>
            {
                received?.TrySetResult(context.Message);
                return Task.CompletedTask;
            }));
        });
        bus.ConnectReceiveEndpointObserver(watchdog);
        return bus;
    }

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
