using Pipeline.Testing;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>How the services declare their queues on a real broker: durable classic queues by default, quorum queues on request.</summary>
public sealed class QueueDurabilityTests(ReliabilityFixture fixture, ITestOutputHelper output) : ReliabilityTestBase(fixture, output)
{
    [Fact]
    public async Task By_default_every_consumer_queue_is_a_durable_classic_queue()
    {
        var queues = await QueueTypesAsync(ReliabilityFixture.VirtualHost);

        foreach (var queue in new[] { "embed-paper-ingested", "rank-paper-embedded", "rank-subscriber-changed", "rank-digest-sent", "notify-paper-matched" })
        {
            Assert.True(queues.TryGetValue(queue, out var q), $"no queue {queue}: {string.Join(", ", queues.Keys)}");
            Assert.Equal(("classic", true, false), (q.Type, q.Durable, q.AutoDelete));
        }
    }

    [Fact]
    public async Task With_Bus_QueueType_quorum_the_consumer_queues_are_quorum_queues()
    {
        const string virtualHost = "reliability-quorum";
        await Broker.CreateVirtualHostAsync(virtualHost);
        await using var redis = await RedisServer.StartNewAsync();
        var (grpc, http) = (FreePort.Next(), FreePort.Next());
        await using var notify = ServiceProcess.ForService("Pipeline.Notify", new Dictionary<string, string?>
        {
            ["Bus__QueueType"] = "quorum",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["ConnectionStrings__redis"] = redis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = Broker.ConnectionString(virtualHost),
            ["Notify__PublicBaseUrl"] = $"http://127.0.0.1:{http}",
            ["Smtp__Host"] = Pipeline.Smtp.Host,
            ["Smtp__Port"] = Pipeline.Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        await notify.StartAndWaitUntilReadyAsync(new Uri($"http://127.0.0.1:{http}/health/ready"), TimeSpan.FromSeconds(90));

        // Ready comes before the receive endpoint has started consuming: wait for its consumer.
        var queues = await QueueTypesAsync(virtualHost);
        for (var tries = 0; tries < 60 && !(queues.TryGetValue("notify-paper-matched", out var q) && q.Consumers > 0); tries++)
        {
            await Task.Delay(500);
            queues = await QueueTypesAsync(virtualHost);
        }

        Assert.True(queues.TryGetValue("notify-paper-matched", out var queue), $"no queue notify-paper-matched: {string.Join(", ", queues.Keys)}");
        Assert.Equal(("quorum", true, 1), (queue.Type, queue.Durable, queue.Consumers));
    }

    private async Task<Dictionary<string, (string Type, bool Durable, bool AutoDelete, int Consumers)>> QueueTypesAsync(string virtualHost)
    {
        var result = (await Broker.RabbitMqCtlAsync(["list_queues", "-q", "--no-table-headers", "-p", virtualHost, "name", "type", "durable", "auto_delete", "consumers"]))
            .EnsureSuccess();
        return result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t'))
            .Where(p => p.Length == 5)
            .ToDictionary(p => p[0], p => (p[1], p[2] == "true", p[3] == "true", int.Parse(p[4], System.Globalization.CultureInfo.InvariantCulture)));
    }
}
