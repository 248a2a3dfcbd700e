using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Ingest;

/// <summary>The scheduler on its own: polls at the interval, and a restart resumes at the cursor.</summary>
public sealed class IngestSchedulerTests(RabbitMqFixture broker) : RabbitMqTestBase(broker)
{
    private static string Line(int i) => $$"""{"id": "local:scheduled-{{i}}", "title": "Scheduled paper {{i}}", "abstract": "Polled by the scheduler."}""";

    [Fact]
    public async Task A_source_is_polled_at_its_interval_and_a_restart_resumes_where_polling_stopped()
    {
        await using var redis = await RedisServer.StartNewAsync();
        var path = Path.Combine(TestArtifacts.NewDirectory("ingest-scheduler"), "papers.jsonl");
        await File.WriteAllLinesAsync(path, Enumerable.Range(1, 5).Select(Line));
        var grpc = FreePort.Next();
        var http = FreePort.Next(p => p == grpc);
        Dictionary<string, string?> Environment(string interval) => new()
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["ConnectionStrings__redis"] = redis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = ConnectionString,
            ["Security__ApiKeys__0"] = "scheduler-test-key",
            ["Sources__JsonLines__Enabled"] = "true",
            ["Sources__JsonLines__Path"] = path,
            ["Sources__JsonLines__Interval"] = interval,
        };
        var health = new Uri($"http://127.0.0.1:{http}/health/ready");
        var ingest = ServiceProcess.ForService("Pipeline.Ingest", Environment("00:00:01"));
        await using (ingest)
        {
            await ingest.StartAndWaitUntilReadyAsync(health, TimeSpan.FromSeconds(90));
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}");
            var client = new IngestService.IngestServiceClient(channel.Intercept(new DefaultDeadlineInterceptor(PipelineProcesses.DefaultDeadline)));

            // The scheduler polls on its own: the five papers arrive without any PollSource.
            // (The papers are stored before the run is recorded, so wait for both.)
            await Eventually(async () =>
                (await client.ListPapersAsync(new ListPapersRequest { Limit = 100 })).Papers.Count == 5 && (await Status(client)).LastRun is not null);
            var seen = await Status(client);

            // Polled again a second later: nothing new is normal, not an error.
            await Eventually(async () => (await Status(client)).LastRun?.ToDateTime() > seen.LastRun.ToDateTime());
            var later = await Status(client);
            Assert.True(later.LastRunOk, later.LastError);
            Assert.Equal((0, 0, ""), (later.NewPapers, later.Duplicates, later.LastError));
            Assert.NotNull(later.NextRun);
            await ingest.StopAsync();
        }

        // Two papers appended while ingest is down; it comes back with an hour's interval.
        await File.AppendAllLinesAsync(path, [Line(6), Line(7)]);
        await using var restarted = ServiceProcess.ForService("Pipeline.Ingest", Environment("01:00:00"));
        await restarted.StartAndWaitUntilReadyAsync(health, TimeSpan.FromSeconds(90));
        using var channel2 = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}");
        var client2 = new IngestService.IngestServiceClient(channel2.Intercept(new DefaultDeadlineInterceptor(PipelineProcesses.DefaultDeadline)));

        // The last run is in Redis, so the restart does not poll at once: the next run is an interval after it.
        var before = await Status(client2);
        Assert.True(before.NextRun.ToDateTime() > DateTime.UtcNow.AddMinutes(50));

        // The cursor is in Redis too: a poll now reads only the two new lines.
        var resumed = (await client2.PollSourceAsync(new PollSourceRequest { Source = "jsonl" }, new Grpc.Core.Metadata { { "x-api-key", "scheduler-test-key" } })).Status;
        Assert.Equal((2, 0, 0), (resumed.NewPapers, resumed.Duplicates, resumed.Rejected));
        Assert.Equal(7, (await client2.ListPapersAsync(new ListPapersRequest { Limit = 100 })).Papers.Count);
    }

    private static async Task<SourceStatus> Status(IngestService.IngestServiceClient client) =>
        (await client.ListSourcesAsync(new ListSourcesRequest())).Sources.Single(s => s.Name == "jsonl");

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(200);
        }
    }
}
