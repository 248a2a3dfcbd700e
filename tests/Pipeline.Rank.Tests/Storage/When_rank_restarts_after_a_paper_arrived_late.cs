using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>
/// A paper that reached rank late (embed was down for two hours) is in the windows of its arrival,
/// so the next digest gets it. A rank restart before that digest must not move it back to when
/// ingest stored it, before the last digest's window: rank keeps the arrival in its Redis.
/// </summary>
public class When_rank_restarts_after_a_paper_arrived_late(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset Ingested = new(2026, 11, 29, 6, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Arrived = Ingested.AddHours(2.5);

    private static IndexedPaper Record(int upvotes, DateTimeOffset ingestedAt, DateTimeOffset? arrived) =>
        new(new PaperSummary("2611.07001", 1, "Listening to honeybee hives", "We record the hum of the hive.", ["Ada Lovelace"], ["q-bio"], Ingested.AddDays(-2), "https://arxiv.org/abs/2611.07001", "arxiv-api", upvotes), ingestedAt)
        {
            FirstIngestedAt = Ingested, ArrivedAt = arrived,
        };

    [Fact]
    public async Task Its_arrival_is_kept_in_redis_and_a_later_record_does_not_move_it()
    {
        var store = new RankStore(redis.NewDatabase());
        var vector = new ClusteredVectors(5).Paper();
        Assert.True(await store.SavePaperAsync(Record(0, Ingested, Arrived), vector));
        // A new upvote count a day later, indexed by a rank that had restarted and held it from Redis
        // (the consumer carries the held arrival; a record that came without one keeps it too).
        Assert.True(await store.SavePaperAsync(Record(12, Ingested.AddDays(1), Arrived.AddDays(1)), vector));
        Assert.True(await store.SavePaperAsync(Record(13, Ingested.AddDays(1).AddHours(1), null), vector));

        var restarted = new PaperIndex(VectorPrecision.Float32);
        await new IndexLoader(store, restarted, new RelevanceRanker(restarted), new ProfileIndex(), NullLogger<IndexLoader>.Instance).StartAsync(CancellationToken.None);
        var loaded = restarted.Find("2611.07001")!;

        Assert.Equal((13, Arrived, Arrived), (loaded.Paper.Upvotes, loaded.ArrivedAt, loaded.WindowAt));
        // The digest that asks for papers since the last one (08:00) still gets it.
        Assert.Single(restarted.SeenSince(Ingested.AddHours(2)));
    }
}
