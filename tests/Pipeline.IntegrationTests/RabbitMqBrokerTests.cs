using System.Text;
using MassTransit;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;
using RabbitMQ.Client;

namespace Pipeline.IntegrationTests;

public sealed record BrokerPing(Guid Id, string Text);

public sealed class RabbitMqBrokerTests(RabbitMqFixture fixture) : RabbitMqTestBase(fixture)
{
    [Fact]
    public async Task A_client_connects_to_the_test_virtual_host_as_guest()
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString) };
        await using var connection = await factory.CreateConnectionAsync();

        Assert.True(connection.IsOpen);
        Assert.Equal(VirtualHost, factory.VirtualHost);
        Assert.Equal(Broker.AmqpPort, connection.Endpoint.Port);
    }

    [Fact]
    public void The_connection_string_escapes_the_virtual_host()
    {
        Assert.Equal($"amqp://guest:guest@127.0.0.1:{Broker.AmqpPort}/%2F", Broker.ConnectionString("/"));
        Assert.Equal($"amqp://guest:guest@127.0.0.1:{Broker.AmqpPort}/a%2Fb%20c", Broker.ConnectionString("a/b c"));
    }

    [Fact]
    public async Task MassTransit_publishes_and_consumes_a_message_on_the_test_virtual_host()
    {
        var received = new TaskCompletionSource<BrokerPing>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)Broker.AmqpPort, VirtualHost, h =>
            {
                h.Username("guest");
                h.Password("guest");
                h.PublisherConfirmation = true;
            });
            cfg.ReceiveEndpoint("broker-tests-ping", e => e.Handler<BrokerPing>(context =>
            {
                received.TrySetResult(context.Message);
                return Task.CompletedTask;
            }));
        });

        using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await bus.StartAsync(startTimeout.Token);
        try
        {
            var sent = new BrokerPing(Guid.NewGuid(), "hello");
            await bus.PublishBoundedAsync(sent);

            var got = await received.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(sent, got);
        }
        finally
        {
            await bus.StopBoundedAsync();
        }

        var queues = await Broker.ListQueuesAsync(VirtualHost);
        Assert.Contains("broker-tests-ping", queues.Keys);
    }

    [Fact]
    public async Task Queue_depth_counts_the_messages_waiting_in_a_queue()
    {
        var factory = new ConnectionFactory { Uri = new Uri(ConnectionString) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("depth", durable: false, exclusive: false, autoDelete: false);
        for (var i = 0; i < 3; i++)
        {
            await channel.BasicPublishAsync("", "depth", Encoding.UTF8.GetBytes($"m{i}"), Bounded.Within());
        }

        Assert.Equal(3, await Broker.QueueDepthAsync(VirtualHost, "depth"));
        Assert.Null(await Broker.QueueDepthAsync(VirtualHost, "no-such-queue"));
    }
}
