using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>
/// Up to 16 <c>PaperEmbedded</c> messages are consumed at once and a failed one is retried in
/// place, so a paper's versions reach rank in any order: whatever the order, Redis and the
/// in-memory indexes end with the newest.
/// </summary>
public class When_versions_of_a_paper_arrive_out_of_order(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset Ingested = new(2026, 11, 2, 11, 30, 0, TimeSpan.Zero);

    /// <summary>A paper whose version 1 is about lasers and version 2 about superconductors.</summary>
    private static IndexedPaper Version(int version, DateTimeOffset? ingestedAt = null)
    {
        var (title, @abstract) = version == 1
            ? ("Lasers in fibre cavities", "Mode locking of erbium lasers.")
            : ("Superconductors at room pressure", "Critical temperatures of hydride superconductors.");
        return new IndexedPaper(
            new PaperSummary("2611.00042", version, title, @abstract, ["Ada Lovelace"], ["cond-mat"], Ingested, "https://arxiv.org/abs/2611.00042", "arxiv-api", 0),
            ingestedAt ?? Ingested.AddHours(version));
    }

    private sealed class RankState
    {
        private readonly RankStore _store;

        public RankState(RankStore store)
        {
            _store = store;
            Relevance = new RelevanceRanker(Papers);
        }

        public PaperIndex Papers { get; } = new(VectorPrecision.Float32);

        public RelevanceRanker Relevance { get; }

        public RankStore Store => _store;

        /// <summary>What the PaperEmbedded consumer does with a paper.</summary>
        public async Task ConsumeAsync(IndexedPaper paper, float[] vector)
        {
            if (await _store.SavePaperAsync(paper, vector) && Papers.Upsert(paper, vector))
            {
                Relevance.Add(paper);
            }
        }

        /// <summary>The indexes as a restart would load them from Redis.</summary>
        public async Task<RankState> RestartedAsync()
        {
            var restarted = new RankState(_store);
            await new IndexLoader(_store, restarted.Papers, restarted.Relevance, new ProfileIndex(), NullLogger<IndexLoader>.Instance).StartAsync(CancellationToken.None);
            return restarted;
        }

        /// <summary>The paper as Search answers it for <paramref name="query"/>, or null when it does not.</summary>
        public IndexedPaper? Search(string query, float[] vector) =>
            Relevance.Rank([new RelevanceQuery(query, vector)], 5, mode: RelevanceMode.Lexical).SingleOrDefault()?.Paper;

        /// <summary>The paper closest in meaning to <paramref name="vector"/> (as Similar ranks), with its vector.</summary>
        public (IndexedPaper Paper, float[] Vector) Closest(float[] vector)
        {
            var top = Papers.Top([vector], 1).Single().Paper;
            Assert.True(Papers.TryGet(top.Paper.Id, out _, out var held));
            return (top, held);
        }
    }

    private static void AssertHolds(RankState rank, IndexedPaper paper, float[] vector, float[] otherVector)
    {
        Assert.Equal(paper.Paper.Title, rank.Search("superconductors hydride", vector)?.Paper.Title);
        Assert.Null(rank.Search("lasers erbium", vector));
        var (closest, held) = rank.Closest(otherVector);
        Assert.Equal(paper.Paper.Version, closest.Paper.Version);
        Assert.Equal(vector, held);
        Assert.Equal(1, rank.Papers.Count);
        Assert.Equal(1, rank.Relevance.PaperCount);
    }

    [Fact]
    public async Task A_redelivered_version_1_after_version_2_leaves_version_2_in_answers_and_in_redis()
    {
        var rank = new RankState(new RankStore(redis.NewDatabase()));
        var data = new ClusteredVectors(11);
        var (v1, v2) = (data.Paper(), data.Paper());

        await rank.ConsumeAsync(Version(2), v2);
        await rank.ConsumeAsync(Version(1), v1);

        AssertHolds(rank, Version(2), v2, v1);
        Assert.Equal(["Critical temperatures of hydride superconductors."], await rank.Store.GetAbstractsAsync(["2611.00042"]));
        AssertHolds(await rank.RestartedAsync(), Version(2), v2, v1);
    }

    [Fact]
    public async Task Two_versions_saved_in_one_order_and_indexed_in_the_other_end_as_version_2_in_memory_and_in_redis()
    {
        // Two consumers at once: Save(v1), Save(v2), then v2 indexed before v1.
        var rank = new RankState(new RankStore(redis.NewDatabase()));
        var data = new ClusteredVectors(12);
        var (v1, v2) = (data.Paper(), data.Paper());

        Assert.True(await rank.Store.SavePaperAsync(Version(1), v1));
        Assert.True(await rank.Store.SavePaperAsync(Version(2), v2));
        Assert.True(rank.Papers.Upsert(Version(2), v2));
        rank.Relevance.Add(Version(2));
        Assert.False(rank.Papers.Upsert(Version(1), v1));
        rank.Relevance.Add(Version(1));

        AssertHolds(rank, Version(2), v2, v1);
        AssertHolds(await rank.RestartedAsync(), Version(2), v2, v1);
    }

    [Fact]
    public void The_lexical_side_keeps_version_2_when_version_1_reaches_it_last()
    {
        // Vector index v1 then v2, lexical index v2 then v1: the lexical side refuses v1 by itself.
        var rank = new RankState(new RankStore(redis.NewDatabase()));
        var data = new ClusteredVectors(13);
        var (v1, v2) = (data.Paper(), data.Paper());

        rank.Papers.Upsert(Version(1), v1);
        rank.Papers.Upsert(Version(2), v2);
        rank.Relevance.Lexical.Add(Version(2));
        rank.Relevance.Lexical.Add(Version(1));

        Assert.Equal("Superconductors at room pressure", rank.Search("superconductors hydride", v2)?.Paper.Title);
        Assert.Null(rank.Search("lasers erbium", v2));
    }

    [Fact]
    public async Task Of_one_version_the_later_ingested_content_wins_whatever_the_order()
    {
        var rank = new RankState(new RankStore(redis.NewDatabase()));
        var data = new ClusteredVectors(14);
        var (earlier, later) = (data.Paper(), data.Paper());
        // Ingest stored new content under the same version (a corrected abstract): the event carries the later time.
        var corrected = Version(2, Ingested.AddDays(1));
        var first = Version(2, Ingested) with { Paper = Version(1).Paper with { Version = 2 } };

        await rank.ConsumeAsync(corrected, later);
        await rank.ConsumeAsync(first, earlier);
        // The same message again (a redelivery) is applied again: equal is not older.
        Assert.True(await rank.Store.SavePaperAsync(corrected, later));

        AssertHolds(rank, corrected, later, earlier);
        AssertHolds(await rank.RestartedAsync(), corrected, later, earlier);
    }

    [Fact]
    public async Task A_batch_saves_each_paper_unless_a_newer_one_is_stored_also_in_format_1()
    {
        var db = redis.NewDatabase();
        var store = new RankStore(db);
        var data = new ClusteredVectors(15);
        await store.SavePaperAsync(Version(2), data.Paper());
        // A format 1 record of version 3 (written before the version had a field of its own).
        var legacy = Version(3) with { Paper = Version(3).Paper with { Id = "legacy" } };
        await db.HashSetAsync("rank:paper:legacy",
        [
            new StackExchange.Redis.HashEntry("paper", System.Text.Json.JsonSerializer.Serialize(legacy.Paper, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))),
            new StackExchange.Redis.HashEntry("ingested_at", legacy.IngestedAt.ToUnixTimeMilliseconds()),
            new StackExchange.Redis.HashEntry("vector", System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.Paper().AsSpan()).ToArray()),
        ]);
        await db.SetAddAsync("rank:papers", "legacy");

        var saved = await store.SavePapersAsync(
        [
            new StoredPaper(Version(1), data.Paper()),
            new StoredPaper(Version(2) with { Paper = Version(2).Paper with { Id = "new" } }, data.Paper()),
            new StoredPaper(Version(2) with { Paper = Version(2).Paper with { Id = "legacy" } }, data.Paper()),
            new StoredPaper(Version(4) with { Paper = Version(4).Paper with { Id = "legacy" } }, data.Paper()),
        ]);

        Assert.Equal([false, true, false, true], saved);
        var loaded = (await store.LoadPapersAsync().ToListAsync()).ToDictionary(p => p.Paper.Paper.Id, p => p.Paper.Paper.Version);
        Assert.Equal(new Dictionary<string, int> { ["2611.00042"] = 2, ["new"] = 2, ["legacy"] = 4 }, loaded);
        Assert.False(await db.HashExistsAsync("rank:paper:legacy", "paper"));
    }
}
