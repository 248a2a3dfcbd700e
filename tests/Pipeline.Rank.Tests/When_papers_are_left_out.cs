using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests;

/// <summary>
/// What a subscriber was already sent (or disliked, or gave as seeds) is left out of Recommend
/// by <c>exclude</c>, which the index asks only about papers that would enter the answer, where
/// a filter (<c>include</c>) is asked about every paper in reach. What a user would notice: a
/// paper left out coming back, or a different answer than the filter gives.
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
                    var leftOut = index.Top(vectors, limit, seenSince: since, exclude: p => sent.Contains(p.Paper.Id));

                    Assert.Equal(limit, leftOut.Count);
                    Assert.DoesNotContain(leftOut, s => sent.Contains(s.Paper.Paper.Id));
                    Assert.All(leftOut, s => Assert.True(since is null || s.Paper.SeenAt >= since));
                    if (!prefiltered)
                    {
                        // An exact scan: the same papers and scores as the filter gives.
                        Assert.Equal(filtered.Select(s => (s.Paper.Paper.Id, s.Relevance)), leftOut.Select(s => (s.Paper.Paper.Id, s.Relevance)));
                        continue;
                    }

                    // The prefilter's net is counted in papers not left out. The filter knows every
                    // candidate it rejects; exclusions are found only among those that would enter
                    // the answer, so the net can be a little smaller. Both are held to the exact scan.
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
    public void They_are_asked_about_only_for_papers_that_would_enter_the_answer(bool prefiltered)
    {
        var index = Index.Value;
        var vectors = new[] { new ClusteredVectors(seed: 11).Near(42, 1.2f), new ClusteredVectors(seed: 11).Near(7, 1.2f) };
        lock (index)
        {
            index.PrefilterFrom = prefiltered ? 0 : int.MaxValue;
            try
            {
                var sent = History(index.Top(vectors, 40), seed: 1);
                var (filterCalls, excludeCalls) = (0, 0);
                index.Top(vectors, 40, p => { filterCalls++; return !sent.Contains(p.Paper.Id); });
                index.Top(vectors, 40, exclude: p => { excludeCalls++; return sent.Contains(p.Paper.Id); });

                // A filter hears about every paper in reach: all of them, or the prefilter's
                // candidates (2,000 at least). The history is asked about a small share of those.
                Assert.True(filterCalls >= (prefiltered ? index.PrefilterCandidates : Papers), $"filter asked {filterCalls} times");
                Assert.True(excludeCalls * 4 < filterCalls, $"history asked {excludeCalls} times, filter {filterCalls}");
                Assert.True(excludeCalls >= 40, $"history asked {excludeCalls} times: fewer than the answer holds");
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
        var leftOut = ranker.Rank([query], 10, mode: mode, exclude: p => sent.Contains(p.Paper.Id));

        Assert.NotEmpty(leftOut);
        Assert.DoesNotContain(leftOut, h => sent.Contains(h.Paper.Paper.Id));
        Assert.Equal(filtered.Select(h => (h.Paper.Paper.Id, h.Score)), leftOut.Select(h => (h.Paper.Paper.Id, h.Score)));
    }
}
