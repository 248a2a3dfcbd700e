using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using MimeKit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.IntegrationTests.Rank;

/// <summary>
/// Rank's Redis is lost and rank restarts empty; <c>RebuildIndex</c> refills its Redis and its
/// index from ingest's <c>ListPapers</c> and embed's <c>Embed</c>, asks notify to republish its
/// subscribers (profiles and what each was sent), and the next restart loads it all again. The four
/// services run as processes with a Redis each and an SMTP sink, on a virtual host of the shared
/// broker; rank's state is wiped here, so they are not the shared pipeline's. Also here: a restart
/// whose load takes seconds, with a paper waiting in rank's queue.
/// </summary>
public sealed class RankRebuildTests(RabbitMqFixture rabbit) : RabbitMqTestBase(rabbit)
{
    private const string ApiKey = "rank-rebuild-test-key";
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(90);
    private SmtpSink _smtp = null!;
    private PipelineProcesses _pipeline = null!;

    private RankingService.RankingServiceClient Rank => new(_pipeline.Calls("rank"));

    private static Metadata WithApiKey => new() { { "x-api-key", ApiKey } };

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _smtp = await SmtpSink.StartNewAsync();
        _pipeline = new PipelineProcesses(ConnectionString, _smtp, ApiKey);
        await _pipeline.StartAsync(_ => new Dictionary<string, string?> { ["Sources__SchedulerEnabled"] = "false" }, Arrival);
    }

    [Fact]
    public async Task After_rank_loses_its_redis_a_rebuild_restores_every_paper_from_ingest_and_embed_and_every_subscriber_from_notify()
    {
        // An instant subscriber on protein folding, who gets the alert for the first paper.
        var email = $"rebuild-{Guid.NewGuid():N}@example.org";
        var subscriberId = await SubscribeAndConfirmAsync(email, "protein structure prediction");
        // The second is near the interest but below the alert threshold: recommended, never alerted.
        Paper[] papers = [Papers.ProteinFolding(), Papers.EnzymeDesign(), Papers.MedievalTaxes()];
        var submitted = await new IngestService.IngestServiceClient(_pipeline.Calls("ingest"))
            .SubmitPapersAsync(new SubmitPapersRequest { Papers = { papers } }, WithApiKey);
        Assert.Equal(3, submitted.Accepted);
        await WaitUntilAsync(async () => await KnowsAsync(papers[0].Id) && await KnowsAsync(papers[2].Id), "rank indexed the papers");
        await _smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival);
        await WaitUntilAsync(async () => !(await RecommendedAsync(subscriberId)).Contains(papers[0].Id), "rank knows the alert was sent");

        // Rank's Redis is lost, and rank restarts with nothing to load.
        using (var redis = await ConnectionMultiplexer.ConnectAsync(_pipeline.Redis["rank"].ConnectionString + ",allowAdmin=true"))
        {
            await redis.GetServer(_pipeline.Redis["rank"].ConnectionString).FlushAllDatabasesAsync();
        }

        await _pipeline.Services["rank"].RestartAsync();
        await _pipeline.Services["rank"].WaitUntilReadyAsync(Ready("rank"), Arrival);
        Assert.False(await KnowsAsync(papers[0].Id));
        Assert.Equal(StatusCode.NotFound, await RecommendStatusAsync(subscriberId));

        var rebuilt = await Rank.RebuildIndexAsync(new RebuildIndexRequest(), WithApiKey, deadline: DateTime.UtcNow.AddMinutes(2));

        Assert.Equal(3, rebuilt.Papers);
        Assert.Equal(1, rebuilt.Subscribers);
        foreach (var paper in papers)
        {
            Assert.True(await KnowsAsync(paper.Id), $"rank knows {paper.Id} after the rebuild");
        }

        var found = await Rank.SearchAsync(new SearchRequest { Query = "protein structure prediction", Limit = 1 });
        Assert.Equal(papers[0].Id, found.Papers.Single().Id);
        Assert.Equal(papers[0].Abstract, found.Papers.Single().Abstract);

        // The subscriber's profile is back, and so is what they were sent: Recommend leaves the alerted paper out.
        await WaitUntilAsync(async () => await RecommendStatusAsync(subscriberId) == StatusCode.OK, "rank knows the subscriber again");
        // (Profiles and sent lists come through two queues, so one may land before the other.)
        await WaitUntilAsync(async () => await RecommendedAsync(subscriberId) is var ids && ids.Contains(papers[1].Id) && !ids.Contains(papers[0].Id),
            "Recommend lists the papers not sent and leaves out the one alerted before the loss");

        // Instant matching works again: a new paper on the topic brings one alert, the old one none.
        var next = Papers.ProteinFolding();
        await new IngestService.IngestServiceClient(_pipeline.Calls("ingest")).SubmitPapersAsync(new SubmitPapersRequest { Papers = { next } }, WithApiKey);
        var alerts = await _smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 2, Arrival);
        Assert.Equal([papers[0].Id, next.Id], alerts.Select(a => Uri.UnescapeDataString(a.Message.MessageId!.Split('.', 3)[2].Split('@')[0])));
        await _smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
        Assert.Equal(2, _smtp.Messages.Count(e => IsAlertTo(e.Message, email)));

        // The rebuild wrote rank's Redis, not only its memory: a restart loads the papers again.
        await _pipeline.Services["rank"].RestartAsync();
        await _pipeline.Services["rank"].WaitUntilReadyAsync(Ready("rank"), Arrival);
        foreach (var paper in papers)
        {
            Assert.True(await KnowsAsync(paper.Id), $"rank knows {paper.Id} after a restart");
        }

        // So is what the subscriber was sent (read after start, or when a Recommend first needs
        // it): the two alerted papers are still left out, the other one still recommended.
        var afterRestart = await RecommendedAsync(subscriberId);
        Assert.Contains(papers[1].Id, afterRestart);
        Assert.DoesNotContain(papers[0].Id, afterRestart);
        Assert.DoesNotContain(next.Id, afterRestart);

        // The load indexed the abstracts it read (words that are in no title).
        var byAbstract = await Rank.SearchAsync(new SearchRequest { Query = "homology proteomes", Limit = 5 });
        var foundByAbstract = byAbstract.Papers.Single(p => p.Id == papers[0].Id);
        Assert.Contains("in the abstract", foundByAbstract.Reason);
        Assert.Equal(StatusCode.OK, await RecommendStatusAsync(subscriberId));
    }

    [Fact]
    public async Task A_paper_that_waited_in_ranks_queue_during_a_long_startup_load_still_brings_its_alert_once()
    {
        var email = $"restart-{Guid.NewGuid():N}@example.org";
        var subscriberId = await SubscribeAndConfirmAsync(email, "protein structure prediction");
        // Rank's Redis holds many papers, so its next startup load takes seconds; its bus connects
        // and receives the waiting message long before the load reaches the profiles.
        await SeedRankRedisAsync(30_000);
        await _pipeline.Services["rank"].StopAsync();

        var paper = Papers.ProteinFolding();
        await new IngestService.IngestServiceClient(_pipeline.Calls("ingest"))
            .SubmitPapersAsync(new SubmitPapersRequest { Papers = { paper } }, WithApiKey);
        await WaitUntilAsync(async () => await MessagesWaitingAsync("rank-paper-embedded") == 1, "the embedded paper waits in rank's queue");

        await _pipeline.Services["rank"].StartAsync();
        await _pipeline.Services["rank"].WaitUntilReadyAsync(Ready("rank"), Arrival);

        var alert = Assert.Single(await _smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival));
        Assert.Equal(paper.Id, Uri.UnescapeDataString(alert.Message.MessageId!.Split('.', 3)[2].Split('@')[0]));
        await _smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
        Assert.True(await KnowsAsync(paper.Id));
        Assert.Equal(StatusCode.OK, await RecommendStatusAsync(subscriberId));
    }

    [Fact]
    public async Task A_rebuild_needs_the_api_key()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Rank.RebuildIndexAsync(new RebuildIndexRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
    }

    /// <summary>Subscribe, then click the link in the confirmation email, as a subscriber does.</summary>
    private async Task<string> SubscribeAndConfirmAsync(string email, string interest)
    {
        var notify = new SubscriptionService.SubscriptionServiceClient(_pipeline.Calls("notify"));
        var subscribed = await notify.SubscribeAsync(new SubscribeRequest
        {
            Email = email, Cadence = Cadence.Instant, InstantThreshold = 0.45, Interests = { interest },
        }, WithApiKey);
        var confirmation = await _smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm"), Arrival);
        using var http = new HttpClient();
        var page = await PipelineFixture.ConfirmThroughPageAsync(http, PipelineFixture.LinkIn(confirmation.Message, "confirm"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        await WaitUntilAsync(async () => await RecommendStatusAsync(subscribed.SubscriberId) == StatusCode.OK, "rank knows the new subscriber");
        return subscribed.SubscriberId;
    }

    /// <summary>
    /// Papers written straight into rank's Redis as rank stores them (format 2: the summary as
    /// JSON, the abstract, when it was ingested, 384 little-endian floats), off any interest.
    /// </summary>
    private async Task SeedRankRedisAsync(int count)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(_pipeline.Redis["rank"].ConnectionString);
        var db = redis.GetDatabase();
        var json = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        var random = new Random(11);
        foreach (var chunk in Enumerable.Range(0, count).Chunk(2_000))
        {
            var batch = db.CreateBatch();
            var writes = new List<Task>();
            foreach (var i in chunk)
            {
                var id = $"seed-{i}";
                var summary = new Pipeline.Contracts.Messages.PaperSummary(id, 1, $"Ledger studies {i}", "", ["A. Clerk"], ["econ.GN"],
                    DateTimeOffset.UtcNow.AddDays(-30), $"https://example.org/{id}", "file", 0);
                var vector = new float[384];
                for (var d = 0; d < vector.Length; d++)
                {
                    vector[d] = (float)(random.NextDouble() - 0.5);
                }

                var norm = MathF.Sqrt(vector.Sum(v => v * v));
                writes.Add(batch.HashSetAsync($"rank:paper:{id}",
                [
                    new HashEntry("summary", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(summary, json)),
                    new HashEntry("abstract", $"Accounts of medieval tithes and grain prices, ledger {i}."),
                    new HashEntry("ingested_at", DateTimeOffset.UtcNow.AddDays(-30).ToUnixTimeMilliseconds()),
                    new HashEntry("vector", System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.Select(v => v / norm).ToArray().AsSpan()).ToArray()),
                ]));
                writes.Add(batch.SetAddAsync("rank:papers", id));
            }

            batch.Execute();
            await Task.WhenAll(writes);
        }
    }

    /// <summary>Messages ready in a queue of this test's virtual host.</summary>
    private async Task<uint> MessagesWaitingAsync(string queue)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(ConnectionString) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    private async Task<StatusCode> RecommendStatusAsync(string subscriberId)
    {
        try
        {
            await Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 1 }, WithApiKey);
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    private async Task<string[]> RecommendedAsync(string subscriberId) =>
        (await Rank.RecommendAsync(new RecommendRequest { SubscriberId = subscriberId, Limit = 10 }, WithApiKey)).Papers.Select(p => p.Id).ToArray();

    private static bool IsTo(MimeMessage message, string email) =>
        message.To.Mailboxes.Any(m => string.Equals(m.Address, email, StringComparison.OrdinalIgnoreCase));

    private static bool IsAlertTo(MimeMessage message, string email) =>
        IsTo(message, email) && (message.Subject ?? "").StartsWith("New paper", StringComparison.Ordinal);

    private Uri Ready(string name) => new(_pipeline.HttpBase(name), "/health/ready");

    /// <summary>Rank knows a paper when Similar finds it (NotFound otherwise).</summary>
    private async Task<bool> KnowsAsync(string paperId)
    {
        try
        {
            await Rank.SimilarAsync(new SimilarRequest { PaperId = paperId, Limit = 1 });
            return true;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Arrival;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(200);
        }
    }

    public override async Task DisposeAsync()
    {
        if (_pipeline is not null)
        {
            await _pipeline.DisposeAsync();
        }

        if (_smtp is not null)
        {
            await _smtp.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}
