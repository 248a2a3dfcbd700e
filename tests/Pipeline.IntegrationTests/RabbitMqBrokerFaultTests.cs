using System.Text;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;
using Pipeline.Testing.Processes;
using RabbitMQ.Client;

namespace Pipeline.IntegrationTests;

/// <summary>Stops, kills and restarts the shared broker; each test leaves it running.</summary>
public sealed class RabbitMqBrokerFaultTests(RabbitMqFixture fixture) : RabbitMqTestBase(fixture)
{
    [Fact]
    public async Task A_persistent_message_in_a_durable_queue_survives_a_kill_and_restart_on_the_same_port()
    {
        var body = Guid.NewGuid().ToString();
        await DeclareDurableQueueAsync("survives-kill");
        // RabbitMQ 3.10 keeps queue definitions in Mnesia, whose log reaches the disk up to ~2 s
        // after a declare (a confirmed persistent message is on disk at once). A node killed right
        // after the declare loses the queue, as a real crash would; the pipeline's queues are
        // declared at service start, long before any fault.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await PublishPersistentAsync("survives-kill", body);
        var beam = Broker.ErlangProcessId;
        Assert.NotNull(beam);
        var processes = Broker.Processes();
        Assert.Contains(beam.Value, processes);
        Assert.True(processes.Count >= 3, $"expected wrapper, VM and helpers, got {processes.Count}");

        await Broker.KillAsync();

        Assert.False(Broker.IsRunning);
        Assert.False(ProcessTable.IsAlive(beam.Value), "the Erlang VM is still alive after KillAsync");
        Assert.DoesNotContain(processes, ProcessTable.IsAlive);
        Assert.False(FreePort.IsListening(Broker.AmqpPort));

        await Broker.StartAsync();

        Assert.True(FreePort.IsListening(Broker.AmqpPort));
        Assert.Equal(body, await GetAsync("survives-kill"));
    }

    [Fact]
    public async Task A_persistent_message_survives_a_graceful_restart()
    {
        var body = Guid.NewGuid().ToString();
        await PublishPersistentAsync("survives-restart", body);

        await Broker.RestartAsync();

        Assert.Equal(1, await Broker.QueueDepthAsync(VirtualHost, "survives-restart"));
        Assert.Equal(body, await GetAsync("survives-restart"));
    }

    [Fact]
    public async Task A_paused_broker_accepts_no_connections_until_resumed()
    {
        Broker.Pause();
        try
        {
            var factory = new ConnectionFactory
            {
                Uri = new Uri(ConnectionString),
                RequestedConnectionTimeout = TimeSpan.FromSeconds(2),
                HandshakeContinuationTimeout = TimeSpan.FromSeconds(2),
                AutomaticRecoveryEnabled = false,
            };
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await Assert.ThrowsAnyAsync<Exception>(async () => await factory.CreateConnectionAsync(timeout.Token));
        }
        finally
        {
            Broker.Resume();
        }

        var again = new ConnectionFactory { Uri = new Uri(ConnectionString) };
        await using var connection = await again.CreateConnectionAsync();
        Assert.True(connection.IsOpen);
    }

    private async Task DeclareDurableQueueAsync(string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString), AutomaticRecoveryEnabled = false };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
    }

    private async Task PublishPersistentAsync(string queue, string body)
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString), AutomaticRecoveryEnabled = false };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        // With confirmation tracking the publish returns once the broker has written the message.
        await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes(body), Bounded.Within());
        await channel.CloseAsync();
        await connection.CloseAsync();
    }

    private async Task<string?> GetAsync(string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString), AutomaticRecoveryEnabled = false };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var result = await channel.BasicGetAsync(queue, autoAck: true);
        return result is null ? null : Encoding.UTF8.GetString(result.Body.Span);
    }
}
