using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>One redis-server for the class; each test uses a database of its own.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private int _nextDatabase;

    public RedisServer Server { get; private set; } = null!;

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public IDatabase NewDatabase() => Connection.GetDatabase(Interlocked.Increment(ref _nextDatabase));

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartNewAsync();
        Connection = await ConnectionMultiplexer.ConnectAsync(Server.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}

public class When_rank_state_round_trips_through_redis(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static IndexedPaper FullPaper(string id) =>
        new(new PaperSummary(id, 2, "A title " + id, "The abstract of " + id + ", with ünïcode.", ["Ada Lovelace", "Alan Turing"], ["cs.LG", "stat.ML"],
                new DateTimeOffset(2026, 11, 2, 10, 0, 0, TimeSpan.Zero), "https://arxiv.org/abs/" + id, "arxiv-api", 12)
            {
                Metadata = new PaperMetadata(PrimaryCategory: "cs.LG", GithubStars: 40, FeaturedOn: new DateOnly(2026, 11, 3), FeaturedAt: new DateTimeOffset(2026, 11, 3, 8, 15, 0, TimeSpan.Zero)),
            },
            new DateTimeOffset(2026, 11, 2, 11, 30, 0, TimeSpan.Zero));

    [Fact]
    public async Task A_saved_paper_loads_back_whole_with_its_exact_vector()
    {
        var store = new RankStore(redis.NewDatabase());
        var paper = FullPaper("2611.00001");
        var vector = new ClusteredVectors(1).Paper();
        await store.SavePaperAsync(paper, vector);

        var loaded = Assert.Single(await store.LoadPapersAsync().ToListAsync());

        Assert.Equal(paper.Paper with { Authors = [], Categories = [] }, loaded.Paper.Paper with { Authors = [], Categories = [] });
        Assert.Equal(paper.Paper.Authors, loaded.Paper.Paper.Authors);
        Assert.Equal(paper.Paper.Categories, loaded.Paper.Paper.Categories);
        Assert.Equal(paper.IngestedAt, loaded.Paper.IngestedAt);
        Assert.Equal(vector, loaded.Vector);
    }

    [Fact]
    public async Task A_paper_keeps_the_trace_it_arrived_in_when_a_later_record_of_it_comes()
    {
        var store = new RankStore(redis.NewDatabase());
        var paper = FullPaper("2611.00003");
        await store.SavePaperAsync(paper, new ClusteredVectors(1).Paper());
        const string arrival = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        await store.SaveTraceParentAsync(paper.Paper.Id, arrival);
        await store.SaveTraceParentAsync(paper.Paper.Id, "00-11111111111111111111111111111111-2222222222222222-01"); // a re-poll's new upvotes

        Assert.Equal(arrival, Assert.Single(await store.GetAnswerDetailsAsync([paper.Paper.Id])).TraceParent);
    }

    [Fact]
    public async Task Thousands_of_papers_load_in_batches_each_exactly_once()
    {
        var store = new RankStore(redis.NewDatabase());
        var data = new ClusteredVectors(2);
        foreach (var chunk in Enumerable.Range(0, 2500).Chunk(700))
        {
            await store.SavePapersAsync(chunk.Select(i => new StoredPaper(FullPaper($"p{i}"), data.Paper())).ToArray());
        }

        var ids = new List<string>();
        await foreach (var batch in store.LoadPaperBatchesAsync())
        {
            Assert.InRange(batch.Count, 1, 1000);
            ids.AddRange(batch.Select(p => p.Paper.Paper.Id));
        }

        Assert.Equal(2500, ids.Distinct().Count());
        Assert.Equal(2500, await store.CountPapersAsync());
    }

    [Fact]
    public async Task The_startup_load_indexes_every_paper_by_the_words_of_its_abstract_and_its_exact_vector()
    {
        var db = redis.NewDatabase();
        var store = new RankStore(db);
        var data = new ClusteredVectors(7);
        var saved = Enumerable.Range(0, 1500).Select(i => new StoredPaper(FullPaper($"p{i}"), data.Paper())).ToList();
        // One paper says a word nowhere else (and not in its title), with a non-ASCII spelling.
        saved[1234] = new StoredPaper(saved[1234].Paper with { Paper = saved[1234].Paper.Paper with { Abstract = "Crystallographic naïveté, only here." } }, saved[1234].Vector);
        foreach (var chunk in saved.Chunk(500))
        {
            await store.SavePapersAsync(chunk);
        }

        // And one paper in format 1 (the whole paper as JSON), which carries its own abstract.
        var legacy = FullPaper("legacy");
        legacy = legacy with { Paper = legacy.Paper with { Abstract = "Holography of the legacy record." } };
        await db.HashSetAsync("rank:paper:legacy",
        [
            new HashEntry("paper", System.Text.Json.JsonSerializer.Serialize(legacy.Paper, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))),
            new HashEntry("ingested_at", legacy.IngestedAt.ToUnixTimeMilliseconds()),
            new HashEntry("vector", System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.Paper().AsSpan()).ToArray()),
        ]);
        await db.SetAddAsync("rank:papers", "legacy");

        var papers = new PaperIndex(VectorPrecision.Float32);
        var relevance = new RelevanceRanker(papers);
        await new IndexLoader(store, papers, relevance, new ProfileIndex(), Microsoft.Extensions.Logging.Abstractions.NullLogger<IndexLoader>.Instance)
            .StartAsync(CancellationToken.None);

        Assert.Equal(1501, papers.Count);
        Assert.Equal(1501, relevance.PaperCount);
        var query = new RelevanceQuery("crystallographic naïveté", data.Paper());
        var hit = Assert.Single(relevance.Rank([query], 10, mode: RelevanceMode.Lexical));
        Assert.Equal("p1234", hit.Paper.Paper.Id);
        Assert.Equal("", hit.Paper.Paper.Abstract); // the index keeps no abstracts
        Assert.Contains("in the abstract", relevance.Explain(hit, [query.Text]));
        Assert.Equal("legacy", Assert.Single(relevance.Rank([new RelevanceQuery("holography", query.Vector)], 10, mode: RelevanceMode.Lexical)).Paper.Paper.Id);
        // Every other paper is found by the words its abstract shares with the rest, and its vector is the one saved.
        Assert.Equal(1499, relevance.Rank([new RelevanceQuery("ünïcode", query.Vector)], 2000, mode: RelevanceMode.Lexical).Count);
        Assert.True(papers.TryGet("p42", out _, out var vector));
        Assert.Equal(saved[42].Vector, vector);
    }

    [Fact]
    public async Task Abstracts_come_back_in_the_order_asked_and_empty_for_unknown_papers()
    {
        var store = new RankStore(redis.NewDatabase());
        await store.SavePaperAsync(FullPaper("a"), new ClusteredVectors(3).Paper());
        await store.SavePaperAsync(FullPaper("b"), new ClusteredVectors(3).Paper());

        var abstracts = await store.GetAbstractsAsync(["b", "unknown", "a"]);

        Assert.Equal(["The abstract of b, with ünïcode.", "", "The abstract of a, with ünïcode."], abstracts);
    }

    [Fact]
    public async Task A_paper_stored_in_format_1_still_loads_and_answers_its_abstract()
    {
        var db = redis.NewDatabase();
        var paper = FullPaper("old");
        var vector = new ClusteredVectors(4).Paper();
        // Format 1, as rank wrote it before format 2: the whole paper as one JSON field.
        await db.HashSetAsync("rank:paper:old",
        [
            new HashEntry("paper", System.Text.Json.JsonSerializer.Serialize(paper.Paper, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))),
            new HashEntry("ingested_at", paper.IngestedAt.ToUnixTimeMilliseconds()),
            new HashEntry("vector", System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan()).ToArray()),
        ]);
        await db.SetAddAsync("rank:papers", "old");
        var store = new RankStore(db);

        var loaded = Assert.Single(await store.LoadPapersAsync().ToListAsync());
        Assert.Equal(paper.Paper.Abstract, loaded.Paper.Paper.Abstract);
        Assert.Equal(vector, loaded.Vector);
        Assert.Equal([paper.Paper.Abstract], await store.GetAbstractsAsync(["old"]));

        // Saved again, it moves to format 2 and keeps no stale format 1 copy.
        await store.SavePaperAsync(paper with { Paper = paper.Paper with { Abstract = "Revised." } }, vector);
        Assert.False(await db.HashExistsAsync("rank:paper:old", "paper"));
        Assert.Equal(["Revised."], await store.GetAbstractsAsync(["old"]));
        Assert.Equal(RankStore.FormatVersion, (int)await db.StringGetAsync(RankStore.FormatKey));
    }

    [Fact]
    public async Task Profiles_round_trip_with_their_vectors_and_format_1_profiles_still_load()
    {
        var db = redis.NewDatabase();
        var store = new RankStore(db);
        var data = new ClusteredVectors(5);
        var profile = new SubscriberProfile("s1", ["diffusion models", "protein folding"], [data.Paper(), data.Paper()], "instant", 0.55, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));
        await store.SaveProfileAsync(profile);
        var legacyVector = data.Paper();
        await db.StringSetAsync("rank:subscriber:s0",
            $$"""{"subscriberId":"s0","interests":["graphs"],"vectors":[[{{string.Join(',', legacyVector.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]],"cadence":"daily","instantThreshold":0.5,"changedAt":"2026-10-01T00:00:00+00:00"}""");
        await db.SetAddAsync("rank:subscribers", "s0");

        var loaded = (await store.LoadProfilesAsync().ToListAsync()).ToDictionary(p => p.SubscriberId);

        Assert.Equal(profile.Interests, loaded["s1"].Interests);
        Assert.Equal(profile.Vectors, loaded["s1"].Vectors);
        Assert.Equal(profile.ChangedAt, await store.ProfileChangedAtAsync("s1"));
        Assert.Equal(legacyVector, Assert.Single(loaded["s0"].Vectors));
        Assert.Equal("daily", loaded["s0"].Cadence);
    }

    [Fact]
    public async Task A_deleted_profile_is_not_loaded_but_remembers_when_it_changed()
    {
        var store = new RankStore(redis.NewDatabase());
        await store.SaveProfileAsync(new SubscriberProfile("s1", ["x"], [new ClusteredVectors(6).Paper()], "instant", 0.5, DateTimeOffset.UnixEpoch));
        var deletedAt = new DateTimeOffset(2026, 11, 5, 0, 0, 0, TimeSpan.Zero);
        await store.DeleteProfileAsync("s1", deletedAt);

        Assert.Empty(await store.LoadProfilesAsync().ToListAsync());
        Assert.Equal(deletedAt, await store.ProfileChangedAtAsync("s1"));
    }

    [Fact]
    public async Task A_days_alerts_count_a_paper_once_however_often_it_is_asked_for_and_start_again_each_utc_day()
    {
        var database = redis.NewDatabase();
        var feedback = new FeedbackStore(database);
        var day = new DateTimeOffset(2026, 11, 5, 9, 0, 0, TimeSpan.Zero);
        var lateOnThe4th = new DateTimeOffset(2026, 11, 5, 0, 30, 0, TimeSpan.FromHours(2)); // 4 Nov, 22:30 UTC

        Assert.True(await feedback.TryTakeAlertAsync("s1", "p1", 2, day));
        // A redelivered or retried PaperEmbedded asks for the same paper again: no second alert used up.
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p1", 2, day.AddMinutes(1)));
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p2", 2, day.AddMinutes(2)));
        Assert.False(await feedback.TryTakeAlertAsync("s1", "p3", 2, day.AddMinutes(3)));
        // Still over the limit for p3 when asked again, and still within it for a paper already counted.
        Assert.False(await feedback.TryTakeAlertAsync("s1", "p3", 2, day.AddMinutes(4)));
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p2", 2, day.AddMinutes(5)));
        // Another subscriber, another UTC day (00:30 at UTC+2 is still the 4th; the 6th starts again).
        Assert.True(await feedback.TryTakeAlertAsync("s2", "p3", 2, day));
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p3", 2, lateOnThe4th));
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p3", 2, day.AddDays(1)));
        Assert.False(await feedback.TryTakeAlertAsync("s1", "p4", 0, day.AddDays(1)));

        // Only the papers within the limit are kept, and the day's key expires.
        var kept = await database.SetMembersAsync("rank:alerted:s1:2026-11-05");
        Assert.Equal(["p1", "p2"], kept.Select(k => k.ToString()).Order());
        var ttl = await database.KeyTimeToLiveAsync("rank:alerted:s1:2026-11-05");
        Assert.InRange(ttl!.Value, TimeSpan.FromDays(1), TimeSpan.FromDays(2));
    }

    [Fact]
    public async Task A_paper_counted_before_midnight_and_redelivered_after_it_does_not_use_the_new_days_alert()
    {
        var feedback = new FeedbackStore(redis.NewDatabase());
        var lateOnThe5th = new DateTimeOffset(2026, 11, 5, 23, 59, 0, TimeSpan.Zero);

        // Published, then rank stopped before marking it: the redelivery comes on the 6th.
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p1", 1, lateOnThe5th));
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p1", 1, lateOnThe5th.AddMinutes(2)));

        // The 6th's one alert is still there for a new paper.
        Assert.True(await feedback.TryTakeAlertAsync("s1", "p2", 1, lateOnThe5th.AddMinutes(3)));
        Assert.False(await feedback.TryTakeAlertAsync("s1", "p3", 1, lateOnThe5th.AddMinutes(4)));
    }

    [Fact]
    public async Task Papers_matched_at_once_never_take_more_than_the_days_alerts()
    {
        var feedback = new FeedbackStore(redis.NewDatabase());
        var day = new DateTimeOffset(2026, 11, 5, 9, 0, 0, TimeSpan.Zero);

        var taken = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => feedback.TryTakeAlertAsync("s1", $"p{i}", 10, day)));

        Assert.Equal(10, taken.Count(t => t));
    }

    [Fact]
    public async Task Votes_sent_papers_and_preferences_come_back_after_a_restart()
    {
        var database = redis.NewDatabase();
        var store = new FeedbackStore(database);
        // More subscribers and voted papers than the load reads at once, each sent several digests.
        var subscribers = Enumerable.Range(0, 600).Select(i => $"sub-{i}").ToArray();
        string Sent(int subscriber, int digest, int paper) => $"2611.{(subscriber * 7 + digest * 3 + paper) % 900:D5}";
        foreach (var (subscriber, i) in subscribers.Select((s, i) => (s, i)))
        {
            await store.SaveSentAsync(subscriber, Enumerable.Range(0, 10).Select(p => Sent(i, 0, p)).ToArray());
            await store.SaveSentAsync(subscriber, Enumerable.Range(0, 10).Select(p => Sent(i, 1, p)).ToArray());
        }

        await store.SaveSentAsync("ünï-sub", ["hf:ünïcode-paper", new string('x', 300)]);
        for (var paper = 0; paper < 300; paper++)
        {
            await store.SaveVoteAsync($"voted-{paper}", "ada", paper % 2 == 0 ? 1 : -1);
            await store.SaveVoteAsync($"voted-{paper}", "bob", 1);
        }

        await store.SaveVoteAsync("voted-0", "bob", 0); // withdrawn
        // Values rank never writes (a hand edit): skipped, and the load goes on.
        await database.HashSetAsync("rank:votes:voted-2", [new HashEntry("eve", 7), new HashEntry("mallory", "up")]);
        await store.SavePreferencesAsync("ada", new ProfilePreferences(["2611.00001"], ["Grace Hopper"], ["cs.LG"]));

        var feedback = new Feedback();
        var loaded = await store.LoadVotesAndPreferencesAsync(feedback);
        var histories = new SentHistoryLoader(store, feedback, NullLogger<SentHistoryLoader>.Instance);
        await histories.LoadAllAsync(CancellationToken.None);

        Assert.Equal(new FeedbackStore.Loaded(VotedPapers: 300, PreferenceSubscribers: 1, SkippedVotes: 2), loaded);
        Assert.True(histories.IsComplete);
        // Each subscriber's two digests overlap (papers i*7 .. i*7+12): 13 distinct papers each.
        Assert.Equal((600 * 13) + 2, feedback.SentPaperCount);
        for (var i = 0; i < subscribers.Length; i++)
        {
            var expected = Enumerable.Range(0, 2).SelectMany(d => Enumerable.Range(0, 10).Select(p => Sent(i, d, p))).ToHashSet();
            Assert.Equal(13, expected.Count);
            Assert.Equal(13, feedback.SentTo(subscribers[i])!.Count);
            Assert.All(expected, id => Assert.True(feedback.WasSent(subscribers[i], id)));
            // Sent to the next subscriber, not to this one.
            Assert.False(feedback.WasSent(subscribers[i], $"2611.{((i * 7) + 13) % 900:D5}"));
        }

        Assert.True(feedback.WasSent("ünï-sub", "hf:ünïcode-paper"));
        Assert.True(feedback.WasSent("ünï-sub", new string('x', 300)));
        Assert.False(feedback.WasSent("ünï-sub", "hf:unicode-paper"));
        Assert.Equal(1, feedback.Votes("voted-0"));
        Assert.Equal(0, feedback.Votes("voted-1"));
        Assert.Equal(2, feedback.Votes("voted-2"));
        Assert.Equal(150, feedback.OpinionsOf("ada").Liked.Count);
        Assert.Equal(299, feedback.OpinionsOf("bob").Liked.Count);
        Assert.Equal(["Grace Hopper"], feedback.PreferencesOf("ada").Authors);
        Assert.Equal(["2611.00001"], feedback.PreferencesOf("ada").SeedPaperIds);
    }

    [Fact]
    public async Task A_subscribers_history_is_there_for_a_recommend_before_the_background_load_reaches_it()
    {
        var store = new FeedbackStore(redis.NewDatabase());
        var subscribers = Enumerable.Range(0, 700).Select(i => $"early-{i}").ToArray();
        string[] History(int i) => Enumerable.Range(0, 30).Select(p => $"early-paper-{(i + p) % 1_000}").ToArray();
        await Task.WhenAll(subscribers.Select((s, i) => store.SaveSentAsync(s, History(i))));
        var feedback = new Feedback();
        var histories = new SentHistoryLoader(store, feedback, NullLogger<SentHistoryLoader>.Instance);

        // Before any background load: only the subscriber asked for is read.
        await histories.EnsureLoadedAsync("early-5", CancellationToken.None);
        Assert.Equal(30, feedback.SentTo("early-5")!.Count);
        Assert.True(feedback.WasSent("early-5", "early-paper-34"));
        Assert.Null(feedback.SentTo("early-6"));
        Assert.False(histories.IsComplete);

        // A digest marked sent meanwhile (as DigestSent does: Redis, then memory) is kept with the rest.
        await store.SaveSentAsync("early-9", ["a-new-paper"]);
        feedback.MarkSent("early-9", ["a-new-paper"]);

        // The background load, with Recommends asking for subscribers at the same time.
        var background = histories.LoadAllAsync(CancellationToken.None);
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => histories.EnsureLoadedAsync(subscribers[(i * 37) % subscribers.Length], CancellationToken.None).AsTask()));
        await background;

        Assert.True(histories.IsComplete);
        Assert.True(histories.Completion.IsCompletedSuccessfully);
        Assert.InRange(histories.LoadedOnDemand, 1, 201);
        for (var i = 0; i < subscribers.Length; i++)
        {
            var sent = feedback.SentTo(subscribers[i])!;
            Assert.Equal(i == 9 ? 31 : 30, sent.Count);
            Assert.All(History(i), id => Assert.True(feedback.WasSent(subscribers[i], id)));
        }

        Assert.True(feedback.WasSent("early-9", "a-new-paper"));
        // Once all are loaded, asking reads nothing more.
        Assert.True(histories.EnsureLoadedAsync("early-1", CancellationToken.None).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_history_that_cannot_be_read_leaves_the_others_loaded_and_is_read_again_by_the_next_recommend()
    {
        var database = redis.NewDatabase();
        var store = new FeedbackStore(database);
        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => store.SaveSentAsync($"fine-{i}", [$"fine-paper-{i}"])));
        // Not a set: Redis refuses SMEMBERS on it (WRONGTYPE), as it would any read during an outage.
        await database.StringSetAsync("rank:sent:broken", "not a set");
        await database.SetAddAsync("rank:sent-subscribers", "broken");
        var feedback = new Feedback();
        var histories = new SentHistoryLoader(store, feedback, NullLogger<SentHistoryLoader>.Instance);

        // The background load reads every other history, and is not complete.
        await histories.LoadAllAsync(CancellationToken.None);
        Assert.True(histories.Completion.IsCompletedSuccessfully);
        Assert.False(histories.IsComplete);
        Assert.All(Enumerable.Range(0, 300), i => Assert.True(feedback.WasSent($"fine-{i}", $"fine-paper-{i}")));
        await Assert.ThrowsAsync<RedisServerException>(() => histories.EnsureLoadedAsync("broken", CancellationToken.None).AsTask());

        await database.KeyDeleteAsync("rank:sent:broken");
        await store.SaveSentAsync("broken", ["p-1"]);
        await histories.EnsureLoadedAsync("broken", CancellationToken.None);
        Assert.True(feedback.WasSent("broken", "p-1"));
        Assert.Equal(1, histories.LoadedOnDemand);
    }
}
