using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests;

/// <summary>
/// A subscriber's ranking is kept between Recommends (<see cref="KeptRankings"/>) and used only
/// while it is what a ranking now would give. What a user would notice: a paper that arrived, a
/// vote, an interest or a digest sent since not showing in the next recommendation, or an answer
/// that differs from the one a fresh ranking gives.
/// </summary>
public class When_rankings_are_kept
{
    private static readonly string[] Words =
    [
        "diffusion", "transformer", "graph", "protein", "robot", "speech", "retrieval", "quantum",
        "reinforcement", "vision", "language", "compiler", "fuzzing", "privacy", "federated", "sparse",
        "attention", "molecule", "policy", "segmentation", "translation", "causal", "kernel", "bandit",
    ];

    private const int Topics = 12;

    private sealed class Corpus
    {
        public PaperIndex Index { get; } = new();
        public RelevanceRanker Ranker { get; }
        public ClusteredVectors Vectors { get; } = new(seed: 5, topics: Topics);

        public Corpus(int papers)
        {
            Ranker = new RelevanceRanker(Index);
            for (var i = 0; i < papers; i++)
            {
                var topic = i % Topics;
                Add($"kept-{i}", $"{Words[topic]} {Words[(topic + 1 + (i % 5)) % Words.Length]} {Words[(i / 7) % Words.Length]}", Vectors.Near(topic, 1.1f));
            }
        }

        public void Add(string id, string title, float[] vector)
        {
            var paper = Paper(id, title, $"We study {title}.");
            Index.Upsert(paper, vector);
            Ranker.Add(paper);
        }

        public RelevanceQuery[] Queries(params int[] topics) =>
            topics.Select(t => new RelevanceQuery($"{Words[t]} {Words[t + 1]}", Vectors.Centres[t])).ToArray();
    }

    /// <summary>What a fresh ranking gives, leaving out <paramref name="sent"/> and <paramref name="extra"/>.</summary>
    private static IReadOnlyList<RelevanceHit> Fresh(Corpus corpus, IReadOnlyList<RelevanceQuery> queries, int limit, SentPapers? sent = null, int[]? extra = null)
    {
        using var leftOut = LeftOut.Of(sent, extra ?? []);
        return corpus.Ranker.Rank(queries, limit, exclude: leftOut);
    }

    private static void AssertSame(IReadOnlyList<RelevanceHit> expected, IReadOnlyList<RelevanceHit> actual)
    {
        Assert.NotEmpty(expected);
        Assert.Equal(
            expected.Select(h => (h.Paper.Paper.Id, h.Score, h.Dense, h.Lexical, h.BestQuery, h.DenseQuery)),
            actual.Select(h => (h.Paper.Paper.Id, h.Score, h.Dense, h.Lexical, h.BestQuery, h.DenseQuery)));
    }

    [Fact]
    public void A_repeat_is_answered_from_what_was_kept_with_what_a_new_ranking_gives()
    {
        var corpus = new Corpus(2_000);
        var kept = new KeptRankings(corpus.Ranker, capacity: 100);
        var queries = corpus.Queries(2, 5);

        Assert.False(kept.TryKept("ada", queries, 50, null, [], out _));
        var first = kept.Rank("ada", queries, 50, null, []);
        var second = kept.Rank("ada", queries, 50, null, []);

        Assert.Equal((1L, 1L), (kept.Misses, kept.Hits));
        AssertSame(Fresh(corpus, queries, 50), first);
        AssertSame(first, second);

        // Asking whether it is kept ranks nothing, and says no once anything it was ranked from changes.
        Assert.True(kept.TryKept("ada", queries, 50, null, [], out var found));
        AssertSame(first, found);
        Assert.False(kept.TryKept("ada", queries, 50, null, [PaperOrdinals.Of(first[0].Paper.Paper.Id)], out _));
        corpus.Add("arrived", "gravitation experiments", corpus.Vectors.Centres[Topics - 1]);
        Assert.False(kept.TryKept("ada", queries, 50, null, [], out _));
        Assert.Equal(1L, kept.Misses);
    }

    public static TheoryData<string> Changes => new()
    {
        "a paper arrives", "a paper changes", "a digest is sent", "a paper is disliked", "a vote moves the interests",
        "an interest is added", "a longer answer is asked",
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void Each_change_it_was_ranked_from_makes_the_next_call_rank_again(string change)
    {
        var corpus = new Corpus(2_000);
        var kept = new KeptRankings(corpus.Ranker, capacity: 100);
        var sent = new SentPapers();
        sent.Add(["kept-0", "kept-12"]);
        var queries = corpus.Queries(3);
        var extra = Array.Empty<int>();
        var limit = 50;
        var before = kept.Rank("ada", queries, limit, sent, extra);
        var top = before[0].Paper.Paper.Id;

        switch (change)
        {
            case "a paper arrives":
                // Exactly on the interest, in its words: it must lead the next answer.
                corpus.Add("arrived", $"{Words[3]} {Words[4]}", corpus.Vectors.Centres[3]);
                break;
            case "a paper changes":
                corpus.Add(top, "gravitation experiments", corpus.Vectors.Centres[Topics - 1]);
                break;
            case "a digest is sent":
                sent.Add([top]);
                break;
            case "a paper is disliked":
                extra = [PaperOrdinals.Of(top)];
                break;
            case "a vote moves the interests":
                queries = [queries[0] with { Vector = corpus.Vectors.Near(3, 0.3f) }];
                break;
            case "an interest is added":
                queries = [.. queries, corpus.Queries(7)[0]];
                break;
            case "a longer answer is asked":
                limit = 120;
                break;
        }

        var after = kept.Rank("ada", queries, limit, sent, extra);

        Assert.Equal((2L, 0L), (kept.Misses, kept.Hits));
        AssertSame(Fresh(corpus, queries, limit, sent, extra), after);
        switch (change)
        {
            case "a paper arrives":
                Assert.Equal("arrived", after[0].Paper.Paper.Id);
                break;
            case "a paper changes" or "a digest is sent" or "a paper is disliked":
                Assert.DoesNotContain(after, h => h.Paper.Paper.Id == top);
                break;
        }
    }

    [Fact]
    public void A_shorter_answer_is_the_start_of_a_longer_one_kept()
    {
        var corpus = new Corpus(2_000);
        var kept = new KeptRankings(corpus.Ranker, capacity: 100);
        var queries = corpus.Queries(4, 8);

        kept.Rank("ada", queries, 80, null, []);
        var shorter = kept.Rank("ada", queries, 50, null, []);

        Assert.Equal((1L, 1L), (kept.Misses, kept.Hits));
        AssertSame(Fresh(corpus, queries, 50), shorter);
    }

    [Fact]
    public void Subscribers_are_kept_apart_and_no_more_of_them_than_the_capacity()
    {
        var corpus = new Corpus(500);
        var kept = new KeptRankings(corpus.Ranker, capacity: 2);
        var ada = corpus.Queries(1);
        var grace = corpus.Queries(6);

        var adas = kept.Rank("ada", ada, 50, null, []);
        var graces = kept.Rank("grace", grace, 50, null, []);
        AssertSame(Fresh(corpus, ada, 50), kept.Rank("ada", ada, 50, null, []));
        AssertSame(Fresh(corpus, grace, 50), kept.Rank("grace", grace, 50, null, []));
        Assert.NotEqual(adas.Select(h => h.Paper.Paper.Id), graces.Select(h => h.Paper.Paper.Id));
        Assert.Equal(2, kept.Hits);

        // A long ranking (a Recommend of more than 50 papers) is not kept: 40 bytes a paper for each subscriber.
        var longer = kept.Rank("ada", ada, KeptRankings.MaxKeptLimit + 1, null, []);
        AssertSame(Fresh(corpus, ada, KeptRankings.MaxKeptLimit + 1), longer);
        Assert.Equal(2, kept.Hits);
        Assert.Equal(50, kept.Rank("ada", ada, 50, null, []).Count);
        Assert.Equal(3, kept.Hits);

        kept.Rank("alan", corpus.Queries(9), 50, null, []);
        Assert.Equal(2, kept.Count);

        var none = new KeptRankings(corpus.Ranker, capacity: 0);
        AssertSame(Fresh(corpus, ada, 50), none.Rank("ada", ada, 50, null, []));
        AssertSame(Fresh(corpus, ada, 50), none.Rank("ada", ada, 50, null, []));
        Assert.Equal((0, 0L), (none.Count, none.Hits));
    }

    [Fact]
    public void A_forgotten_subscriber_is_ranked_again()
    {
        var corpus = new Corpus(500);
        var kept = new KeptRankings(corpus.Ranker, capacity: 10);
        var queries = corpus.Queries(1);
        kept.Rank("ada", queries, 50, null, []);

        kept.Forget("ada");
        kept.Rank("ada", queries, 50, null, []);

        Assert.Equal((2L, 0L), (kept.Misses, kept.Hits));
    }

    [Fact]
    public void The_fingerprint_tells_queries_apart_by_one_bit_or_one_letter()
    {
        var vector = new ClusteredVectors(seed: 3).Paper();
        var nudged = vector.ToArray();
        nudged[200] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(nudged[200]) ^ 1);
        var query = new RelevanceQuery("graph neural networks", vector);

        var fingerprint = KeptRankings.Fingerprint([query]);

        Assert.Equal(fingerprint, KeptRankings.Fingerprint([query with { Vector = vector.ToArray() }]));
        Assert.NotEqual(fingerprint, KeptRankings.Fingerprint([query with { Vector = nudged }]));
        Assert.NotEqual(fingerprint, KeptRankings.Fingerprint([query with { Text = "graph neural network" }]));
        Assert.NotEqual(fingerprint, KeptRankings.Fingerprint([query, query]));
    }

    [Fact]
    public async Task A_warm_pass_ranks_every_subscriber_so_their_recommend_is_kept()
    {
        var corpus = new Corpus(2_000);
        var profiles = new ProfileIndex();
        var feedback = new Feedback();
        for (var s = 0; s < 20; s++)
        {
            profiles.Upsert(new SubscriberProfile(
                $"sub-{s}", [$"{Words[s % Topics]} {Words[(s % Topics) + 1]}"], [corpus.Vectors.Centres[s % Topics]], "daily", 0.5, DateTimeOffset.UnixEpoch));
        }

        feedback.MarkSent("sub-3", ["kept-3", "kept-15"]);
        feedback.Vote("kept-7", "sub-7", 1);
        var kept = new KeptRankings(corpus.Ranker, capacity: 100);
        var queries = new SubscriberQueries(corpus.Index, profiles, feedback);
        var warmer = new KeptRankingsWarmer(
            kept, queries, profiles, feedback, corpus.Ranker, new SentHistoryLoader(null!, feedback, NullLogger<SentHistoryLoader>.Instance),
            new StartupGate(), new RankingGate(2), new ConfigurationBuilder().Build(), NullLogger<KeptRankingsWarmer>.Instance);

        var pass = await warmer.WarmAsync(CancellationToken.None);

        Assert.Equal(new WarmPass(20, 20, Complete: true), pass);
        Assert.Equal(20, kept.Count);
        // What a Recommend of 10 papers then asks for each subscriber is kept, history and votes included.
        foreach (var id in new[] { "sub-3", "sub-7", "sub-11" })
        {
            var inputs = queries.Of(id)!;
            var answer = kept.Rank(id, inputs.Queries, Recommender.RankedFor(10), feedback.SentTo(id), SubscriberQueries.Excluded([], inputs));
            AssertSame(Fresh(corpus, inputs.Queries, Recommender.RankedFor(10), feedback.SentTo(id), SubscriberQueries.Excluded([], inputs)), answer);
        }

        Assert.Equal(3, kept.Hits);
        Assert.DoesNotContain(
            kept.Rank("sub-3", queries.Of("sub-3")!.Queries, 50, feedback.SentTo("sub-3"), []),
            h => h.Paper.Paper.Id is "kept-3" or "kept-15");

        // A second pass over unchanged papers ranks nothing.
        Assert.Equal(new WarmPass(20, 0, Complete: true), await warmer.WarmAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_pass_that_fails_leaves_rank_running_and_the_next_change_brings_another()
    {
        var corpus = new Corpus(500);
        var profiles = new ProfileIndex();
        var feedback = new Feedback();
        profiles.Upsert(new SubscriberProfile("good", [$"{Words[1]} {Words[2]}"], [corpus.Vectors.Centres[1]], "daily", 0.5, DateTimeOffset.UnixEpoch));
        // A profile whose vector has 3 dimensions, not 384: ranking it throws.
        profiles.Upsert(new SubscriberProfile("broken", ["graph"], [[1f, 0f, 0f]], "daily", 0.5, DateTimeOffset.UnixEpoch));
        var kept = new KeptRankings(corpus.Ranker, capacity: 100);
        using var warmer = await StartedWarmerAsync(corpus, profiles, feedback, kept);
        var misses = kept.Misses;
        await WaitUntil(() => kept.Misses > misses, "a first pass");
        await Task.Delay(300);
        Assert.False(warmer.ExecuteTask!.IsCompleted, "the warmer stopped after a failed pass");

        profiles.Remove("broken");
        corpus.Add("arrived", $"{Words[1]} {Words[2]}", corpus.Vectors.Centres[1]);
        await WaitUntil(() => kept.Count == 1 && kept.Rank("good", new SubscriberQueries(corpus.Index, profiles, feedback).Of("good")!.Queries, 50, null, [])
            .Any(h => h.Paper.Paper.Id == "arrived") && kept.Hits > 0, "a pass after the change");
        await warmer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_digest_sent_brings_a_pass_that_ranks_only_its_subscriber_again()
    {
        var corpus = new Corpus(1_000);
        var profiles = new ProfileIndex();
        var feedback = new Feedback();
        for (var s = 0; s < 5; s++)
        {
            profiles.Upsert(new SubscriberProfile($"sub-{s}", [$"{Words[s]} {Words[s + 1]}"], [corpus.Vectors.Centres[s]], "daily", 0.5, DateTimeOffset.UnixEpoch));
        }

        var kept = new KeptRankings(corpus.Ranker, capacity: 100);
        var queries = new SubscriberQueries(corpus.Index, profiles, feedback);
        using var warmer = await StartedWarmerAsync(corpus, profiles, feedback, kept);
        await WaitUntil(() => kept.Misses == 5, "the first pass");
        var inputs = queries.Of("sub-1")!;
        var top = kept.Rank("sub-1", inputs.Queries, 50, null, [])[0].Paper.Paper.Id;

        feedback.MarkSent("sub-1", [top]);
        await WaitUntil(() => kept.Misses == 6, "a pass after the digest");
        await Task.Delay(300);
        var hits = kept.Hits;
        var answer = kept.Rank("sub-1", inputs.Queries, 50, feedback.SentTo("sub-1"), []);
        await warmer.StopAsync(CancellationToken.None);

        Assert.Equal(6, kept.Misses);
        Assert.Equal(hits + 1, kept.Hits);
        Assert.DoesNotContain(answer, h => h.Paper.Paper.Id == top);
    }

    /// <summary>
    /// A warmer running as rank runs it, with a quiet period of 50 ms and no Redis: the history
    /// load fails at once (as when rank's Redis is out of reach), and the warmer goes on without it.
    /// </summary>
    private static async Task<KeptRankingsWarmer> StartedWarmerAsync(Corpus corpus, ProfileIndex profiles, Feedback feedback, KeptRankings kept)
    {
        var history = new SentHistoryLoader(null!, feedback, NullLogger<SentHistoryLoader>.Instance);
        await history.LoadAllAsync(CancellationToken.None);
        var startup = new StartupGate();
        await startup.StartAsync(CancellationToken.None);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Ranking:KeptRankingsQuietSeconds"] = "0.05",
        }).Build();
        var warmer = new KeptRankingsWarmer(
            kept, new SubscriberQueries(corpus.Index, profiles, feedback), profiles, feedback, corpus.Ranker, history,
            startup, new RankingGate(2), configuration, NullLogger<KeptRankingsWarmer>.Instance);
        await warmer.StartAsync(CancellationToken.None);
        return warmer;
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
