using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>
/// A paper submitted without a publication time is dated by when ingest first stored it. Each new
/// record of it (more upvotes, a corrected abstract) has a later ingestion time, which orders the
/// records; it must not make the paper new again, in memory or after a restart.
/// </summary>
public class When_a_paper_without_a_date_changes(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset First = new(2026, 11, 20, 9, 0, 0, TimeSpan.Zero);

    private static IndexedPaper Record(int upvotes, DateTimeOffset ingestedAt, DateTimeOffset? firstIngestedAt) =>
        new(new PaperSummary("local:hive-acoustics", 0, "Listening to honeybee hives", "We record the hum of the hive.", ["Ada Lovelace"], ["q-bio"], null, "https://example.org/hive", "api", upvotes), ingestedAt)
        {
            FirstIngestedAt = firstIngestedAt,
        };

    [Fact]
    public async Task It_keeps_the_time_it_was_first_ingested_in_windows_in_redis_and_after_a_restart()
    {
        var store = new RankStore(redis.NewDatabase());
        var papers = new PaperIndex(VectorPrecision.Float32);
        var vector = new ClusteredVectors(5).Paper();
        var later = First.AddDays(8);

        // First seen on the 20th; 40 upvotes arrive on the 28th.
        foreach (var record in new[] { Record(0, First, First), Record(40, later, First) })
        {
            Assert.True(await store.SavePaperAsync(record, vector));
            Assert.True(papers.Upsert(record, vector));
        }

        Assert.Equal(First, papers.Find("local:hive-acoustics")!.SeenAt);
        // A window of the last day does not hold it: it is eight days old, not new.
        Assert.Empty(papers.SeenSince(later.AddDays(-1)));
        Assert.Equal("40 upvotes in 8 days", TrendingScore.Reason(40, later - papers.Find("local:hive-acoustics")!.SeenAt));

        // A record from an ingest that does not say when it first stored the paper keeps the time held.
        Assert.True(await store.SavePaperAsync(Record(41, later.AddHours(1), null), vector));

        var restarted = new PaperIndex(VectorPrecision.Float32);
        await new IndexLoader(store, restarted, new RelevanceRanker(restarted), new ProfileIndex(), NullLogger<IndexLoader>.Instance).StartAsync(CancellationToken.None);
        var loaded = restarted.Find("local:hive-acoustics")!;
        Assert.Equal((41, First, First), (loaded.Paper.Upvotes, loaded.FirstIngestedAt, loaded.SeenAt));
    }

    [Fact]
    public void A_paper_with_a_publication_time_is_dated_by_it_and_one_without_either_by_its_record()
    {
        var published = Record(0, First.AddDays(2), First) with { Paper = Record(0, First, First).Paper with { PublishedAt = First.AddDays(-30) } };
        Assert.Equal(First.AddDays(-30), published.SeenAt);

        // An event from an ingest older than FirstIngestedAt: the record's own time, as before.
        Assert.Equal(First.AddDays(2), Record(0, First.AddDays(2), null).SeenAt);
    }
}
