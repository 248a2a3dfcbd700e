using System.Diagnostics;
using System.Net;
using Grpc.Core;
using MimeKit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests.Reliability;

/// <summary>
/// The SMTP server goes away for 30 s in the middle of a digest run and comes back: every digest
/// of the run reaches its subscriber once, none twice, whether it went out before the outage, was
/// cut off in the middle of its SMTP transaction, or was still waiting its turn.
/// </summary>
public sealed class SmtpOutageDuringDigestsTests(RabbitMqFixture rabbit, PipelineFixture pipeline, ITestOutputHelper output) : PipelineTestBase(rabbit, pipeline)
{
    private const int Subscribers = 20;

    /// <summary>The outage begins when this many digests of the run have been taken.</summary>
    private const int DeliveredBeforeOutage = 5;

    private static readonly TimeSpan TestBudget = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(30);

    private const string Interest = "tidal range lagoons and barrages for electricity";

    [Fact]
    public async Task Every_digest_of_a_run_cut_by_a_30_s_smtp_outage_is_delivered_once_when_the_server_is_back()
    {
        var clock = Stopwatch.StartNew();
        void Log(string line) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {line}");

        var subscribers = await Task.WhenAll(Enumerable.Range(0, Subscribers).Select(i => DailySubscriberAsync($"run{i}")));
        var emails = subscribers.Select(s => s.Email).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var paper = LagoonPaper();
        Assert.Equal(1, (await SubmitAsync(paper)).Accepted);
        await Task.WhenAll(subscribers.Select(s => WaitUntilAsync(async () =>
            (await Pipeline.Rank.RecommendAsync(new RecommendRequest { SubscriberId = s.Id, Limit = 50 }, PipelineFixture.WithApiKey)).Papers.Any(p => p.Id == paper.Id),
            $"rank recommends {paper.Id} to {s.Id}")));
        Log($"{Subscribers} daily subscribers, each with {paper.Id} to come");

        // Cut the run in the middle, deterministically: when the sink takes the fifth digest it
        // stops answering (Pause: transactions under way hang at MAIL FROM or at the end of DATA),
        // and the test then stops the server, which cuts those transactions and refuses new ones.
        // The predicate only watches; it never rejects a message.
        var cut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var taken = 0;
        Pipeline.Smtp.RejectMessages(421, m =>
        {
            if (IsDigestToAny(m, emails) && Interlocked.Increment(ref taken) == DeliveredBeforeOutage)
            {
                Pipeline.Smtp.Pause();
                cut.TrySetResult();
            }

            return false;
        });
        int beforeOutage;
        try
        {
            // The run: every one of them due a minute ago, as at the top of an hour.
            await ScheduleAsync(subscribers.Select(s => s.Id), DateTimeOffset.UtcNow.AddMinutes(-1));
            await cut.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await Pipeline.Smtp.StopAsync();
            beforeOutage = Digests(emails).Count;
            Log($"SMTP down with {beforeOutage} of {Subscribers} digests delivered");
            Assert.InRange(beforeOutage, DeliveredBeforeOutage, Subscribers - 1);
            await Task.Delay(Outage);
            Assert.Equal(beforeOutage, Digests(emails).Count);
        }
        finally
        {
            Pipeline.Smtp.ClearRejections();
            Pipeline.Smtp.Resume();
            await Pipeline.Smtp.StartAsync();
        }

        Log("SMTP back");
        // Every subscriber gets theirs (the scheduler retries failed digests with back-off), then a
        // quiet period in which a second copy would show.
        var deadline = clock.Elapsed + (TestBudget - clock.Elapsed - TimeSpan.FromSeconds(8));
        while (Recipients(emails).Count < Subscribers && clock.Elapsed < deadline)
        {
            await Task.Delay(250);
        }

        Log($"{Recipients(emails).Count} of {Subscribers} subscribers have their digest");
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(5), m => IsDigestToAny(m, emails));

        var digests = Digests(emails);
        var perRecipient = digests.GroupBy(d => d.Message.To.Mailboxes.Single().Address, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.OrdinalIgnoreCase);
        var missing = emails.Except(perRecipient.Keys, StringComparer.OrdinalIgnoreCase).ToArray();
        Assert.True(missing.Length == 0, $"{missing.Length} of {Subscribers} due digests never arrived: {string.Join(", ", missing)}");
        var twice = perRecipient.Where(r => r.Value.Count > 1).Select(r => $"{r.Key} ×{r.Value.Count}").ToArray();
        Assert.True(twice.Length == 0, $"digests delivered more than once: {string.Join(", ", twice)}");
        Assert.All(digests, d => Assert.Contains(paper.Title, d.Message.TextBody));

        // notify's own log agrees: one sent digest each, with the Message-Id the inbox has.
        foreach (var (email, id) in subscribers)
        {
            var log = await Pipeline.Notify.ListDeliveriesAsync(new ListDeliveriesRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
            var delivery = Assert.Single(log.Deliveries);
            Assert.Equal(("digest", "sent", perRecipient[email].Single().Message.MessageId), (delivery.Kind, delivery.Status, delivery.MessageId));
        }

        Log("each digest once, and in notify's log once");
    }

    private static Paper LagoonPaper()
    {
        var paper = new Paper
        {
            Id = Papers.NewArxivId(), Version = 1, Source = "integration-test",
            Title = "Electricity from a tidal range lagoon: operating a barrage to follow demand",
            Abstract = "A tidal range lagoon impounds the sea behind a barrage and generates electricity as the tide turns. We model " +
                "the operation of turbines and sluices of a proposed lagoon and show how pumping lets it follow the demand for electricity.",
        };
        paper.Authors.Add("Mary Somerville");
        paper.Categories.Add("physics.ao-ph");
        return paper;
    }

    /// <summary>A confirmed daily subscriber whose hour is far from now (the test makes the digest due), known to rank.</summary>
    private async Task<(string Email, string Id)> DailySubscriberAsync(string name)
    {
        var email = $"{name}-{Guid.NewGuid():N}@example.org";
        var subscribed = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = email, Cadence = Cadence.Daily, Hour = (DateTime.UtcNow.Hour + 12) % 24, Interests = { Interest },
        }, PipelineFixture.WithApiKey);
        var confirmation = await Pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm"), Arrival);
        using (var http = new HttpClient())
        {
            Assert.Equal(HttpStatusCode.OK, (await PipelineFixture.ConfirmThroughPageAsync(http, PipelineFixture.LinkIn(confirmation.Message, "confirm"))).StatusCode);
        }

        await WaitUntilAsync(async () => await RankStatusAsync(subscribed.SubscriberId) == StatusCode.OK, "rank knows the new subscriber");
        return (email, subscribed.SubscriberId);
    }

    private async Task ScheduleAsync(IEnumerable<string> subscriberIds, DateTimeOffset due)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["notify"].ConnectionString);
        await redis.GetDatabase().SortedSetAddAsync("notify:digest-due",
            subscriberIds.Select(id => new SortedSetEntry(id, due.ToUnixTimeMilliseconds())).ToArray());
    }

    private IReadOnlyList<Testing.ReceivedEmail> Digests(IReadOnlySet<string> emails) =>
        Pipeline.Smtp.Messages.Where(e => IsDigestToAny(e.Message, emails)).ToList();

    private HashSet<string> Recipients(IReadOnlySet<string> emails) =>
        Digests(emails).SelectMany(d => d.Message.To.Mailboxes).Select(m => m.Address).ToHashSet(StringComparer.OrdinalIgnoreCase);

    private static bool IsDigestToAny(MimeMessage message, IReadOnlySet<string> emails) =>
        (message.MessageId ?? "").StartsWith("digest.", StringComparison.Ordinal) && message.To.Mailboxes.Any(m => emails.Contains(m.Address));
}
