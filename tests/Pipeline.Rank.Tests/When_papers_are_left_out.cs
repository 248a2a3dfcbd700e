using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests;

/// <summary>
/// What a subscriber was already sent (or disliked, or gave as seeds) is left out of Recommend
/// by <c>exclude</c> (<see cref="LeftOut"/>, a bitmap by paper number), which the index asks only
/// about papers that would enter the answer, where a filter (<c>include</c>) is asked about every
/// paper in reach. What a user would notice: a paper left out coming back, or a different answer
/// than the filter gives.
/// </summary>
public class When_papers_are_left_out
{
    private const int Papers = 30_000;

    private static readonly Lazy<PaperIndex> Index = new(() =>
    {
        var data = new ClusteredVectors(seed: 11);
        var index = new PaperIndex(VectorPrecision.Int8) { ParallelThreshold = int.MaxValue };
        index.EnsureCapacity(Papers);
        for (var i = 0; i < Papers; i++)
        {
            var record = ClusteredVectors.PaperRecord($"p{i}");
            index.Upsert(record with { Paper = record.Paper with { PublishedAt = DateTimeOffset.UnixEpoch.AddMinutes(i) } }, data.Paper());
        }

        return index;
    });

    /// <summary>A history: the first half of the answer the subscriber would get without one, and 300 papers at random.</summary>
    private static HashSet<string> History(IReadOnlyList<ScoredPaper> answer, int seed)
    {
        var random = new Random(seed);
        var sent = answer.Take(answer.Count / 2).Select(s => s.Paper.Paper.Id).ToHashSet(StringComparer.Ordinal);
        while (sent.Count < (answer.Count / 2) + 300)
        {
            sent.Add($"p{random.Next(Papers)}");
        }

        return sent;
    }

    [Theory]
    [InlineData(false, 1, 10, null)]
    [InlineData(false, 3, 40, null)]
    [InlineData(false, 3, 40, 3_000)]
    [InlineData(true, 1, 10, null)]
    [InlineData(true, 3, 100, null)]
    [InlineData(true, 3, 40, 6_000)]
    public void The_answer_is_what_a_filter_gives_and_leaves_them_all_out(bool prefiltered, int interests, int limit, int? windowMinutes)
    {
        var index = Index.Value;
        var queries = new ClusteredVectors(seed: 11);
        var since = windowMinutes is { } minutes ? DateTimeOffset.UnixEpoch.AddMinutes(Papers - minutes) : (DateTimeOffset?)null;
        lock (index)
        {
            index.PrefilterFrom = prefiltered ? 0 : int.MaxValue;
            try
            {
                var (filterRecall, leftOutRecall) = (0.0, 0.0);
                for (var q = 0; q < 10; q++)
                {
                    var vectors = Enumerable.Range(0, interests).Select(i => queries.Near(((q * 11) + (i * 37)) % 200, 1.2f)).ToArray();
                    var sent = History(index.Top(vectors, limit, seenSince: since), seed: q);
                    Func<IndexedPaper, bool> notSent = p => !sent.Contains(p.Paper.Id);

                    var filtered = index.Top(vectors, limit, notSent, since);
                    using var history = LeftOut.Of(sent);
                    var leftOut = index.Top(vectors, limit, seenSince: since, exclude: history);

                    Assert.Equal(limit, leftOut.Count);
                    Assert.DoesNotContain(leftOut, s => sent.Contains(s.Paper.Paper.Id));
                    Assert.All(leftOut, s => Assert.True(since is null || s.Paper.SeenAt >= since));
                    // The same papers and scores as the filter gives: an exact scan asks only about
                    // papers that would enter the answer, and the prefilter drops the papers left
                    // out from its net as it drops those a filter rejects.
                    Assert.Equal(filtered.Select(s => (s.Paper.Paper.Id, s.Relevance)), leftOut.Select(s => (s.Paper.Paper.Id, s.Relevance)));
                    if (!prefiltered)
                    {
                        continue;
                    }

                    // Both are held to the exact scan.
                    index.PrefilterFrom = int.MaxValue;
                    var exact = index.Top(vectors, limit, notSent, since).Select(s => s.Paper.Paper.Id).ToHashSet(StringComparer.Ordinal);
                    index.PrefilterFrom = 0;
                    filterRecall += filtered.Count(s => exact.Contains(s.Paper.Paper.Id)) / (double)limit;
                    leftOutRecall += leftOut.Count(s => exact.Contains(s.Paper.Paper.Id)) / (double)limit;
                }

                if (prefiltered)
                {
                    Assert.True(leftOutRecall / 10 >= 0.98, $"recall@{limit} left out {leftOutRecall / 10:F3}, filtered {filterRecall / 10:F3}");
                    Assert.True(leftOutRecall / 10 >= (filterRecall / 10) - 0.01, $"recall@{limit} left out {leftOutRecall / 10:F3}, filtered {filterRecall / 10:F3}");
                }
            }
            finally
            {
                index.PrefilterFrom = int.MaxValue;
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_history_of_nearly_every_paper_still_leaves_a_full_answer_of_the_rest(bool prefiltered)
    {
        var index = Index.Value;
        var vectors = new[] { new ClusteredVectors(seed: 11).Near(42, 1.2f), new ClusteredVectors(seed: 11).Near(7, 1.2f) };
        lock (index)
        {
            index.PrefilterFrom = prefiltered ? 0 : int.MaxValue;
            try
            {
                // Every paper but one in twenty was sent: the prefilter's net must widen until it
                // holds its share of papers that were not, as it does for a filter.
                var sent = Enumerable.Range(0, Papers).Where(i => i % 20 != 0).Select(i => $"p{i}").ToHashSet(StringComparer.Ordinal);
                using var history = LeftOut.Of(sent);
                var leftOut = index.Top(vectors, 40, exclude: history);
                var filtered = index.Top(vectors, 40, p => !sent.Contains(p.Paper.Id));

                index.PrefilterFrom = int.MaxValue;
                var exact = index.Top(vectors, 40, p => !sent.Contains(p.Paper.Id)).Select(s => s.Paper.Paper.Id).ToHashSet(StringComparer.Ordinal);

                Assert.Equal(40, leftOut.Count);
                Assert.DoesNotContain(leftOut, s => sent.Contains(s.Paper.Paper.Id));
                Assert.Equal(filtered.Select(s => (s.Paper.Paper.Id, s.Relevance)), leftOut.Select(s => (s.Paper.Paper.Id, s.Relevance)));
                var recall = leftOut.Count(s => exact.Contains(s.Paper.Paper.Id)) / 40.0;
                Assert.True(recall >= (prefiltered ? 0.95 : 1.0), $"recall@40 {recall:F3} against the exact answer among the papers not sent");
            }
            finally
            {
                index.PrefilterFrom = int.MaxValue;
            }
        }
    }

    [Theory]
    [InlineData(RelevanceMode.Hybrid)]
    [InlineData(RelevanceMode.Dense)]
    [InlineData(RelevanceMode.Lexical)]
    public void A_hybrid_ranking_leaves_them_out_of_both_sides(RelevanceMode mode)
    {
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index);
        var meaning = PaperIndexSpecs.Unit((0, 1));
        (string Id, string Title, float[] Vector)[] papers =
        [
            ("a", "Fuzzing network protocols", meaning),
            ("b", "Fuzzing of compilers", PaperIndexSpecs.Unit((1, 1))),
            ("c", "Random input generation for servers", meaning),
            ("d", "Fuzzing fuzzing fuzzing", PaperIndexSpecs.Unit((2, 1))),
            ("e", "Gravitation experiments", PaperIndexSpecs.Unit((3, 1))),
        ];
        foreach (var (id, title, vector) in papers)
        {
            index.Upsert(Paper(id, title), vector);
            ranker.Add(Paper(id, title));
        }

        var query = new RelevanceQuery("fuzzing", meaning);
        var sent = new HashSet<string>(["a", "d"], StringComparer.Ordinal);

        var filtered = ranker.Rank([query], 10, p => !sent.Contains(p.Paper.Id), mode);
        using var history = LeftOut.Of(sent);
        var leftOut = ranker.Rank([query], 10, mode: mode, exclude: history);

        Assert.NotEmpty(leftOut);
        Assert.DoesNotContain(leftOut, h => sent.Contains(h.Paper.Paper.Id));
        Assert.Equal(filtered.Select(h => (h.Paper.Paper.Id, h.Score)), leftOut.Select(h => (h.Paper.Paper.Id, h.Score)));
    }

    [Fact]
    public void The_lexical_side_leaves_out_the_same_papers_after_its_slots_are_renumbered()
    {
        var index = new PaperIndex();
        var ranker = new RelevanceRanker(index);
        var ids = Enumerable.Range(0, 300).Select(i => $"renumbered-{i}").ToArray();
        void AddAll(string version)
        {
            foreach (var (id, i) in ids.Select((id, i) => (id, i)))
            {
                var paper = Paper(id, $"Fuzzing {(i % 3 == 0 ? "network" : "compiler")} {version}", $"Paper {i} on fuzzing, version {version}.");
                index.Upsert(paper, PaperIndexSpecs.Unit((i % 7, 1)));
                ranker.Add(paper);
            }
        }

        // Every paper replaced by a new text five times: dead slots outnumber live ones and the
        // lexical index compacts, renumbering the slots the left-out test reads numbers from.
        foreach (var version in new[] { "one", "two", "three", "four", "five" })
        {
            AddAll(version);
        }

        Assert.True(ranker.Lexical.Compactions > 0, "the lexical index did not compact");

        var query = new RelevanceQuery("fuzzing network", PaperIndexSpecs.Unit((0, 1)));
        var sent = ids.Where((_, i) => i % 2 == 0).ToHashSet(StringComparer.Ordinal);
        using var history = LeftOut.Of(sent);
        var filtered = ranker.Rank([query], 100, p => !sent.Contains(p.Paper.Id), RelevanceMode.Lexical);
        var leftOut = ranker.Rank([query], 100, mode: RelevanceMode.Lexical, exclude: history);

        Assert.Equal(100, leftOut.Count);
        Assert.DoesNotContain(leftOut, h => sent.Contains(h.Paper.Paper.Id));
        Assert.Equal(filtered.Select(h => (h.Paper.Paper.Id, h.Score)), leftOut.Select(h => (h.Paper.Paper.Id, h.Score)));
    }

    [Fact]
    public void A_left_out_set_holds_the_history_and_the_named_papers_and_nothing_else()
    {
        var sent = new SentPapers();
        sent.Add([3, 64, 65, 70_000, 131_071]);
        using var leftOut = LeftOut.Of(sent, [5, 64, -1, 200_000]);

        Assert.NotNull(leftOut);
        Assert.Equal(7, leftOut.Count);
        foreach (var ordinal in new[] { 3, 5, 64, 65, 70_000, 131_071, 200_000 })
        {
            Assert.True(leftOut.Contains(ordinal), $"{ordinal} should be left out");
        }

        foreach (var ordinal in new[] { 0, 4, 63, 66, 69_999, 131_072, 199_999, 200_001, 5_000_000, -1 })
        {
            Assert.False(leftOut.Contains(ordinal), $"{ordinal} should not be left out");
        }
    }

    [Fact]
    public void Nothing_to_leave_out_is_no_set_and_a_set_handed_back_holds_nothing()
    {
        Assert.Null(LeftOut.Of(null, []));
        Assert.Null(LeftOut.Of(new SentPapers(), [-1]));

        var leftOut = LeftOut.Of(null, [42])!;
        Assert.True(leftOut.Contains(42));
        leftOut.Dispose();
        Assert.False(leftOut.Contains(42));
        leftOut.Dispose();

        // A bitmap rented again comes back clear: the next call's set holds only its own papers.
        using var next = LeftOut.Of(null, [43])!;
        Assert.False(next.Contains(42));
        Assert.True(next.Contains(43));
    }
}
