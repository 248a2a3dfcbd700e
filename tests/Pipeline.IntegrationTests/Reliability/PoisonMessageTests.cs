using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;
using RabbitMQ.Client;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>
/// Hand-made messages in rank's queue, on the shared pipeline. Those rank cannot consume end in
/// <c>rank-paper-embedded_error</c> with the reason in their headers, hold up nothing behind them,
/// and are inspected, dropped or replayed as docs/operations.md ("Error queues: inspect and
/// replay") says; one from an older pipeline (without the fields added since) is consumed as well
/// as it can be.
/// </summary>
public sealed class PoisonMessageTests(RabbitMqFixture rabbit, PipelineFixture pipeline, ITestOutputHelper output) : PipelineTestBase(rabbit, pipeline)
{
    private const string Queue = "rank-paper-embedded";
    private const string ErrorQueue = Queue + "_error";
    private static readonly TimeSpan TestBudget = TimeSpan.FromMinutes(2);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The pipeline's virtual host (the first test class's, not this class's own).</summary>
    private string PipelineVirtualHost => Uri.UnescapeDataString(new Uri(Pipeline.RabbitMqConnectionString).AbsolutePath.TrimStart('/'));

    [Fact]
    public async Task Messages_rank_can_never_consume_land_in_the_error_queue_with_the_reason_and_hold_up_nothing_behind_them()
    {
        var clock = Stopwatch.StartNew();
        // Two hand-made messages straight into rank's queue: a body that is not JSON, and a
        // PaperEmbedded whose vector has 3 values instead of 384. Right behind them, a well-formed
        // PaperEmbedded (its vector from embed's Embed call).
        var garbageId = Guid.NewGuid().ToString();
        var shortVector = Summary(Papers.NewArxivId(), "A hand-made paper with a three-value vector");
        var shortVectorId = Guid.NewGuid().ToString();
        var behind = Papers.SpeechRecognition();
        var vector = (await Pipeline.Embed.EmbedAsync(new EmbedRequest { Texts = { PaperText.Of(behind.Title, behind.Abstract) } })).Embeddings.Single().Values.ToArray();
        await PublishRawAsync(garbageId, "{\"message\": {\"paper\": "u8.ToArray());
        await PublishRawAsync(shortVectorId, Envelope(shortVectorId, new PaperEmbedded(shortVector, "hand-made", false, "hand-made", [0.1f, 0.2f, 0.3f], DateTimeOffset.UtcNow)));
        var behindId = Guid.NewGuid().ToString();
        await PublishRawAsync(behindId, Envelope(behindId, new PaperEmbedded(Summary(behind.Id, behind.Title), "hand-made", false, "hand-made", vector, DateTimeOffset.UtcNow)));
        // And a paper submitted to ingest after them, through the whole pipeline.
        var submitted = Papers.RoboticGrasping();
        Assert.Equal(1, (await SubmitAsync(submitted)).Accepted);

        // The one behind them is indexed: the bad ones hold nothing up (a malformed message goes to
        // the error queue without retries; one that is retried is retried beside the queue, not in front of it).
        await WaitUntilAsync(() => RankKnowsAsync(behind.Id), $"rank indexed {behind.Id} behind the bad messages");
        var behindIndexedAt = clock.Elapsed;
        await WaitUntilAsync(() => RankKnowsAsync(submitted.Id), $"rank indexed the submitted {submitted.Id}");

        var failed = await WaitForErrorsAsync([garbageId, shortVectorId], TestBudget - clock.Elapsed);
        output.WriteLine($"{behindIndexedAt.TotalSeconds:F1} s: the message behind the bad ones indexed; {clock.Elapsed.TotalSeconds:F1} s: both bad ones in {ErrorQueue}");

        var garbage = failed[garbageId];
        Assert.Equal("fault", garbage.Header("MT-Reason"));
        Assert.False(string.IsNullOrEmpty(garbage.Header("MT-Fault-Message")), "no MT-Fault-Message on the undeserializable message");
        Assert.Equal("{\"message\": {\"paper\": ", garbage.Body);

        var wrongLength = failed[shortVectorId];
        Assert.Equal("fault", wrongLength.Header("MT-Reason"));
        Assert.Contains("384", wrongLength.Header("MT-Fault-Message"));
        Assert.Contains(shortVector.Id, wrongLength.Body);

        // The bad paper is in neither rank's index nor rank's Redis, so it cannot break rank's next
        // start (which loads every stored paper into a 384-dimension index).
        Assert.False(await RankKnowsAsync(shortVector.Id));
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["rank"].ConnectionString))
        {
            Assert.False(await redis.GetDatabase().KeyExistsAsync($"rank:paper:{shortVector.Id}"), "rank stored the paper with the 3-value vector");
        }

        // They can never succeed: drop them.
        (await Broker.RabbitMqCtlAsync(["purge_queue", "-p", PipelineVirtualHost, ErrorQueue])).EnsureSuccess();
        Assert.Empty(await PeekErrorsAsync([garbageId, shortVectorId]));
    }

    [Fact]
    public async Task A_paper_that_failed_while_ranks_redis_refused_writes_is_replayed_from_the_error_queue_and_alerts_once()
    {
        var clock = Stopwatch.StartNew();
        var email = $"replay-{Guid.NewGuid():N}@example.org";
        var subscriberId = await SubscribeAndConfirmAsync(email, "tidal stream turbines in fast-flowing channels");
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: instant subscriber confirmed");
        var paper = TidalTurbines();

        // Rank's Redis is full and refuses every write (maxmemory reached, noeviction): rank cannot
        // store the paper, retries, and gives the message up to the error queue.
        await SetRankRedisMaxMemoryAsync("1");
        ReceivedMessage failed;
        try
        {
            Assert.Equal(1, (await SubmitAsync(paper)).Accepted);
            failed = (await WaitForErrorsAsync([paper.Id], TestBudget - clock.Elapsed, byPaperId: true))[paper.Id];
        }
        finally
        {
            await SetRankRedisMaxMemoryAsync("0");
        }

        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {paper.Id} in {ErrorQueue}: {failed.Header("MT-Fault-ExceptionType")}: {failed.Header("MT-Fault-Message")}");
        Assert.Equal("fault", failed.Header("MT-Reason"));
        Assert.StartsWith("StackExchange.Redis.", failed.Header("MT-Fault-ExceptionType"));
        Assert.False(string.IsNullOrEmpty(failed.Header("MT-Fault-Message")), "no MT-Fault-Message");
        Assert.False(await RankKnowsAsync(paper.Id));
        Assert.DoesNotContain(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));

        // The cause is fixed (maxmemory lifted above); replay exactly as docs/operations.md says.
        var vhost = PipelineVirtualHost;
        (await Broker.RabbitMqPluginsAsync(["enable", "rabbitmq_shovel"])).EnsureSuccess();
        var uri = "amqp:///" + Uri.EscapeDataString(vhost);
        var shovel = $$"""{"src-protocol":"amqp091","src-uri":"{{uri}}","src-queue":"{{ErrorQueue}}","src-delete-after":"queue-length","dest-protocol":"amqp091","dest-uri":"{{uri}}","dest-queue":"{{Queue}}"}""";
        (await Broker.RabbitMqCtlAsync(["set_parameter", "-p", vhost, "shovel", "replay-rank", shovel])).EnsureSuccess();
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: shovel plugin on, replay-rank set");

        await WaitUntilAsync(() => RankKnowsAsync(paper.Id), $"rank indexed the replayed {paper.Id}");
        var alert = await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, TestBudget - clock.Elapsed);
        Assert.Contains(paper.Title, alert.Single().Message.TextBody);
        Assert.Equal($"alert.{subscriberId}.{paper.Id}", alert.Single().Message.MessageId!.Split('@')[0]);
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: replayed paper indexed and its alert delivered");
        Assert.Empty(await PeekErrorsAsync([paper.Id], byPaperId: true));
        // The shovel removed itself once it had moved what the error queue held.
        await WaitUntilAsync(async () => !(await Broker.RabbitMqCtlAsync(["list_parameters", "-p", vhost])).EnsureSuccess().Output.Contains("replay-rank"),
            "the replay shovel deleted itself");
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
    }

    [Fact]
    public async Task An_event_from_an_older_pipeline_that_does_not_say_when_a_paper_was_first_ingested_keeps_the_time_rank_holds()
    {
        var category = $"test.O{Guid.NewGuid():N}"[..16];
        var paper = Papers.MedievalTaxes();
        paper.Categories.Add(category);
        var beforeFirst = DateTimeOffset.UtcNow.AddSeconds(-1);
        Assert.Equal(1, (await SubmitAsync(paper)).Accepted);
        await WaitUntilAsync(() => RankKnowsAsync(paper.Id), $"rank indexed {paper.Id}");
        var afterFirst = DateTimeOffset.UtcNow.AddMilliseconds(100);
        await Task.Delay(300);

        // The same paper again, as an ingest and embed from before FirstIngestedAt would announce
        // a later record of it (7 upvotes): no first ingestion time in the message.
        var vector = (await Pipeline.Embed.EmbedAsync(new EmbedRequest { Texts = { PaperText.Of(paper.Title, paper.Abstract) } })).Embeddings.Single().Values.ToArray();
        var later = new PaperSummary(paper.Id, paper.Version, paper.Title, paper.Abstract, [.. paper.Authors], [.. paper.Categories], null, $"https://arxiv.org/abs/{paper.Id}", paper.Source, 7);
        var messageId = Guid.NewGuid().ToString();
        await PublishRawAsync(messageId, Envelope(messageId, new PaperEmbedded(later, "hand-made", true, "hand-made", vector, DateTimeOffset.UtcNow)));

        Task<RankedPaper?> Found(DateTimeOffset since) => SearchSinceAsync(paper.Title, category, since);
        await WaitUntilAsync(async () => (await Found(beforeFirst))?.Upvotes == 7, "rank took the later record");

        // Still dated by its first ingestion, in memory and after a restart would load it from Redis.
        Assert.Null(await Found(afterFirst));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["rank"].ConnectionString);
        var held = (long)await redis.GetDatabase().HashGetAsync($"rank:paper:{paper.Id}", "first_ingested_at");
        Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds(held), beforeFirst, afterFirst);
    }

    private static Paper TidalTurbines()
    {
        var paper = new Paper
        {
            Id = Papers.NewArxivId(), Version = 1, Source = "integration-test",
            Title = "Wake interactions between tidal stream turbines in a fast-flowing channel",
            Abstract = "We measure the wakes of an array of tidal stream turbines in a fast-flowing tidal channel with acoustic Doppler " +
                "profilers and show how the spacing of turbines changes the power each extracts from the tidal current.",
        };
        paper.Authors.Add("Mary Somerville");
        paper.Categories.Add("physics.flu-dyn");
        return paper;
    }

    private static PaperSummary Summary(string id, string title) =>
        new(id, 1, title, "Written by hand for a test.", ["Nobody"], ["cs.LG"], null, $"https://arxiv.org/abs/{id}", "integration-test", 0);

    /// <summary>A MassTransit JSON envelope, as a publisher of <see cref="PaperEmbedded"/> sends it.</summary>
    private static byte[] Envelope(string messageId, PaperEmbedded message) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        messageId,
        messageType = new[] { "urn:message:Pipeline.Contracts.Messages:PaperEmbedded" },
        sentTime = DateTimeOffset.UtcNow,
        message,
    }, Json);

    private async Task<IConnection> ConnectAsync() =>
        await new ConnectionFactory { Uri = new Uri(Pipeline.RabbitMqConnectionString), AutomaticRecoveryEnabled = false }.CreateConnectionAsync();

    private async Task PublishRawAsync(string messageId, byte[] body)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var properties = new BasicProperties { Persistent = true, ContentType = "application/vnd.masstransit+json", MessageId = messageId };
        await channel.BasicPublishAsync("", Queue, mandatory: true, properties, body, Bounded.Within());
    }

    /// <summary>
    /// Waits until the error queue holds a message for each of <paramref name="keys"/> (message ids,
    /// or paper ids found in the body) and returns them; looks with get-and-requeue, as the docs do.
    /// </summary>
    private async Task<Dictionary<string, ReceivedMessage>> WaitForErrorsAsync(string[] keys, TimeSpan timeout, bool byPaperId = false)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var found = await PeekErrorsAsync(keys, byPaperId);
            if (found.Count == keys.Length)
            {
                return found;
            }

            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"After {waited.Elapsed.TotalSeconds:F0} s {ErrorQueue} holds {found.Count} of the {keys.Length} failed messages; queues: "
                    + string.Join(", ", (await Broker.ListQueuesAsync(PipelineVirtualHost)).Select(q => $"{q.Key}={q.Value}")));
            }

            await Task.Delay(500);
        }
    }

    /// <summary>
    /// Gets every message of the error queue without acknowledging it and then puts them all back
    /// (what the management UI's "Get messages" and <c>rabbitmqadmin get ... ackmode=ack_requeue_true</c>
    /// do); returns the ones for <paramref name="keys"/>.
    /// </summary>
    private async Task<Dictionary<string, ReceivedMessage>> PeekErrorsAsync(string[] keys, bool byPaperId = false)
    {
        var found = new Dictionary<string, ReceivedMessage>();
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var held = new List<ulong>();
        try
        {
            await channel.QueueDeclarePassiveAsync(ErrorQueue);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // MassTransit declares the error queue with the first fault.
            return found;
        }

        while (await channel.BasicGetAsync(ErrorQueue, autoAck: false) is { } result)
        {
            var message = new ReceivedMessage(
                result.BasicProperties.MessageId,
                Encoding.UTF8.GetString(result.Body.Span),
                (result.BasicProperties.Headers ?? new Dictionary<string, object?>()).ToDictionary(h => h.Key, h => h.Value is byte[] b ? Encoding.UTF8.GetString(b) : h.Value?.ToString()));
            var key = keys.FirstOrDefault(k => byPaperId ? message.Body.Contains($"\"{k}\"", StringComparison.Ordinal) : message.MessageId == k);
            if (key is not null)
            {
                found[key] = message;
            }

            held.Add(result.DeliveryTag);
        }

        foreach (var tag in held)
        {
            await channel.BasicNackAsync(tag, multiple: false, requeue: true);
        }

        return found;
    }

    private async Task SetRankRedisMaxMemoryAsync(string bytes)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["rank"].ConnectionString + ",allowAdmin=true");
        await redis.GetDatabase().ExecuteAsync("CONFIG", "SET", "maxmemory", bytes);
    }

    private sealed record ReceivedMessage(string? MessageId, string Body, IReadOnlyDictionary<string, string?> Headers)
    {
        public string Header(string name) => Headers.TryGetValue(name, out var value) ? value ?? "" : "";
    }
}
