using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Consumers;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>
/// Instant alerts are for news the subscriber has not seen. An import of old papers used to alert
/// every instant subscriber it matched (and use up their day's alerts), and a paper already sent in
/// a digest asked for, or voted on, was alerted again. The consumer runs on MassTransit's in-memory
/// test harness, against a real redis-server.
/// </summary>
public class When_an_embedded_paper_may_raise_instant_alerts(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private const string Interest = "quantum error correction";

    [Fact]
    public async Task Only_a_new_paper_the_subscriber_has_not_seen_alerts()
    {
        var now = DateTimeOffset.UtcNow;
        var subscriber = $"ada-{Guid.NewGuid():N}";
        var profiles = new ProfileIndex();
        var vector = Vector();
        profiles.Upsert(new SubscriberProfile(subscriber, [Interest], [vector], "instant", 0.5, now.AddDays(-1)));
        var feedback = new Feedback();
        var fresh = Paper("fresh", now.AddDays(-1));
        var imported = Paper("imported", now.AddDays(-400));
        var sent = Paper("sent", now.AddDays(-1));
        var voted = Paper("voted", now.AddDays(-1));
        feedback.MarkSent(subscriber, [sent.Id]);
        feedback.Vote(voted.Id, subscriber, 1);

        await using var provider = Services(profiles, feedback);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            foreach (var paper in new[] { imported, sent, voted, fresh })
            {
                await harness.Bus.Publish(new PaperEmbedded(paper, "hash", false, "model", vector, now) { FirstIngestedAt = now });
                Assert.True(await harness.Consumed.Any<PaperEmbedded>(m => m.Context.Message.Paper.Id == paper.Id));
            }

            Assert.True(await harness.Published.Any<PaperMatched>());
            var alerted = harness.Published.Select<PaperMatched>().Select(m => m.Context.Message.Paper.Id).ToArray();
            Assert.Equal([fresh.Id], alerted);
            // All four are indexed all the same: Search and Recommend reach them.
            var index = provider.GetRequiredService<PaperIndex>();
            Assert.All(new[] { fresh, imported, sent, voted }, p => Assert.NotNull(index.Find(p.Id)));
        }
        finally
        {
            await harness.Stop();
        }
    }

    private ServiceProvider Services(ProfileIndex profiles, Feedback feedback)
    {
        var db = redis.NewDatabase();
        var index = new PaperIndex();
        var relevance = new RelevanceRanker(index);
        var configuration = new ConfigurationBuilder().Build();
        var startup = new StartupGate();
        startup.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        return new ServiceCollection()
            .AddSingleton(new RankStore(db))
            .AddSingleton(new FeedbackStore(db))
            .AddSingleton(feedback)
            .AddSingleton(new SentHistoryLoader(new FeedbackStore(db), feedback, Microsoft.Extensions.Logging.Abstractions.NullLogger<SentHistoryLoader>.Instance))
            .AddSingleton(index)
            .AddSingleton(relevance)
            .AddSingleton(new InstantMatcher(profiles, relevance, configuration, feedback))
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton(PublishDeadline.From(configuration))
            .AddSingleton(startup)
            .AddSingleton(TimeProvider.System)
            .AddSingleton(new OutageRetry([]))
            .AddLogging()
            .AddMassTransitTestHarness(x => x.AddConsumer<PaperEmbeddedConsumer>())
            .BuildServiceProvider(true);
    }

    private static PaperSummary Paper(string name, DateTimeOffset published) =>
        new($"2611.{Math.Abs(name.GetHashCode(StringComparison.Ordinal)) % 90000 + 10000:D5}{Guid.NewGuid().ToString("N")[..4]}", 1,
            "Surface codes for quantum error correction", "We decode surface codes for quantum error correction.", ["Grace Hopper"], ["quant-ph"],
            published, "https://arxiv.org/abs/x", "api", 0);

    private static float[] Vector()
    {
        var random = new Random(7);
        return ClusteredVectors.Normalise(Enumerable.Range(0, PaperIndex.Dimensions).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
    }
}
