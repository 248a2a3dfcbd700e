using Microsoft.Extensions.Configuration;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// From <see cref="PaperIndex.PrefilterFrom"/> papers up, a scan ranks rows by their sign codes
/// first and scores only the nearest candidates exactly. What a user would notice is a different
/// answer: these hold it to the exact scan's.
/// </summary>
public class When_a_large_index_is_prefiltered
{
    private const int Papers = 30_000;

    private static readonly Lazy<PaperIndex> Int8Index = new(() => Build(VectorPrecision.Int8));

    /// <summary>When paper i appeared: one a minute, p0 first.</summary>
    private static DateTimeOffset SeenAt(int i) => DateTimeOffset.UnixEpoch.AddMinutes(i);

    private static PaperIndex Build(VectorPrecision precision)
    {
        var data = new ClusteredVectors(seed: 5);
        var index = new PaperIndex(precision) { ParallelThreshold = int.MaxValue };
        index.EnsureCapacity(Papers);
        for (var i = 0; i < Papers; i++)
        {
            var record = ClusteredVectors.PaperRecord($"p{i}");
            index.Upsert(record with { Paper = record.Paper with { PublishedAt = SeenAt(i) } }, data.Paper());
        }

        return index;
    }

    private static (string[] Exact, string[] Prefiltered) Both(PaperIndex index, float[][] queries, int limit, Func<IndexedPaper, bool>? include = null, DateTimeOffset? since = null)
    {
        lock (index)
        {
            index.PrefilterFrom = int.MaxValue;
            var exact = index.Top(queries, limit, include, since).Select(s => s.Paper.Paper.Id).ToArray();
            index.PrefilterFrom = 0;
            var prefiltered = index.Top(queries, limit, include, since).Select(s => s.Paper.Paper.Id).ToArray();
            index.PrefilterFrom = int.MaxValue;
            return (exact, prefiltered);
        }
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(1, 100)]
    [InlineData(3, 10)]
    [InlineData(5, 40)]
    public void It_finds_what_the_exact_scan_finds(int interests, int limit)
    {
        var queries = new ClusteredVectors(seed: 5);
        var recall = 0.0;
        for (var q = 0; q < 20; q++)
        {
            var vectors = Enumerable.Range(0, interests).Select(i => queries.Near(((q * 7) + (i * 31)) % 200, 1.2f)).ToArray();
            var (exact, prefiltered) = Both(Int8Index.Value, vectors, limit);
            Assert.Equal(limit, prefiltered.Length);
            recall += prefiltered.Intersect(exact).Count() / (double)exact.Length;
        }

        Assert.True(recall / 20 >= 0.99, $"recall@{limit} with {interests} interests was {recall / 20:F3}");
    }

    [Fact]
    public void A_filter_that_passes_one_paper_in_a_hundred_still_fills_the_answer()
    {
        // Queries are drawn like the papers (same topics). Like "since yesterday" over two months of papers: most near rows are filtered out, so the
        // prefilter must widen its net rather than answer with fewer papers.
        Func<IndexedPaper, bool> rare = p => p.Paper.Id.EndsWith("00", StringComparison.Ordinal);
        var queries = new ClusteredVectors(seed: 5);
        for (var q = 0; q < 5; q++)
        {
            var (exact, prefiltered) = Both(Int8Index.Value, [queries.Near(q * 13, 1.2f)], 10, rare);
            Assert.Equal(10, prefiltered.Length);
            Assert.All(prefiltered, id => Assert.EndsWith("00", id));
            Assert.True(prefiltered.Intersect(exact).Count() >= 9, $"query {q}: [{string.Join(", ", prefiltered)}] against [{string.Join(", ", exact)}]");
        }
    }

    [Theory]
    [InlineData(300)] // a digest's "since the last one": fewer papers than the prefilter scores, so all are scored exactly
    [InlineData(10_000)] // a third of the index: the prefilter picks among the window's papers
    public void A_window_keeps_only_papers_seen_since_its_start_and_still_fills_the_answer(int minutes)
    {
        // The last `minutes` of 30,000 minutes, one paper a minute.
        var since = SeenAt(Papers - minutes);
        var queries = new ClusteredVectors(seed: 5);
        for (var q = 0; q < 5; q++)
        {
            float[][] vectors = [queries.Near(q * 17, 1.2f), queries.Near((q * 17) + 5, 1.2f)];
            var (exact, prefiltered) = Both(Int8Index.Value, vectors, 10, since: since);
            var (byFilter, _) = Both(Int8Index.Value, vectors, 10, include: p => p.SeenAt >= since);

            Assert.Equal(byFilter, exact);
            Assert.Equal(10, prefiltered.Length);
            Assert.All(prefiltered, id => Assert.True(int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture) >= Papers - minutes, id));
            if (minutes <= Int8Index.Value.PrefilterCandidates)
            {
                Assert.Equal(exact, prefiltered);
            }
            else
            {
                Assert.True(prefiltered.Intersect(exact).Count() >= 9, $"query {q}: [{string.Join(", ", prefiltered)}] against [{string.Join(", ", exact)}]");
            }
        }
    }

    [Fact]
    public void A_filter_that_passes_nothing_answers_nothing()
    {
        var (exact, prefiltered) = Both(Int8Index.Value, [new ClusteredVectors(seed: 5).Near(1)], 10, _ => false);
        Assert.Empty(exact);
        Assert.Empty(prefiltered);
    }

    [Theory]
    [InlineData(VectorPrecision.Float32)]
    [InlineData(VectorPrecision.Float16)]
    [InlineData(VectorPrecision.Int8)]
    public void With_fewer_papers_than_candidates_it_gives_the_exact_answer(VectorPrecision precision)
    {
        // Every row becomes a candidate, so the answer is the exact one, scores and all.
        var data = new ClusteredVectors(seed: 6);
        var index = new PaperIndex(precision) { ParallelThreshold = int.MaxValue, PrefilterCandidates = 2_000 };
        for (var i = 0; i < 1_500; i++)
        {
            index.Upsert(ClusteredVectors.PaperRecord($"p{i}"), data.Paper());
        }

        float[][] queries = [data.Near(3, 1.2f), data.Near(40, 1.2f)];
        index.PrefilterFrom = int.MaxValue;
        var exact = index.Top(queries, 25).Select(s => (s.Paper.Paper.Id, s.Relevance, s.BestQuery)).ToArray();
        index.PrefilterFrom = 0;
        var prefiltered = index.Top(queries, 25).Select(s => (s.Paper.Paper.Id, s.Relevance, s.BestQuery)).ToArray();

        Assert.Equal(exact, prefiltered);
    }

    [Fact]
    public void The_service_reads_where_the_prefilter_starts_from_its_configuration()
    {
        var configured = new PaperIndex(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Ranking:PrefilterFrom"] = "5000",
            ["Ranking:PrefilterCandidates"] = "300",
        }).Build());
        var defaults = new PaperIndex(new ConfigurationBuilder().Build());

        Assert.Equal((5000, 300), (configured.PrefilterFrom, configured.PrefilterCandidates));
        Assert.Equal((20_000, 2_000), (defaults.PrefilterFrom, defaults.PrefilterCandidates));
        Assert.Equal(int.MaxValue, new PaperIndex().PrefilterFrom);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(4, true)]
    [InlineData(1, false)]
    [InlineData(4, false)]
    public void Sign_code_distances_are_the_bits_in_which_the_codes_differ(int queryCount, bool vectorised)
    {
        var data = new ClusteredVectors(seed: 8);
        var rows = new VectorRows(PaperIndex.Dimensions, VectorPrecision.Int8);
        var vectors = Enumerable.Range(0, 300).Select(_ => data.Paper()).ToArray();
        for (var i = 0; i < vectors.Length; i++)
        {
            rows.Set(i, vectors[i]);
        }

        var queries = Enumerable.Range(0, queryCount).Select(q => data.Near(q)).ToArray();
        var codes = new ulong[queryCount * 6];
        for (var q = 0; q < queryCount; q++)
        {
            VectorRows.SignCode(queries[q], codes.AsSpan(q * 6, 6));
        }

        var distances = new ushort[vectors.Length];
        var histogram = new int[PaperIndex.Dimensions + 1];
        // 300 rows: the last block of eight holds four.
        VectorRows.NearestCodes(rows.Codes(vectors.Length), codes, 6, distances, histogram, vectorised);

        for (var i = 0; i < vectors.Length; i++)
        {
            // Counted the slow way: dimensions where the signs differ, for the nearest query.
            var expected = queries.Min(q => q.Zip(vectors[i], (a, b) => (a > 0) != (b > 0) ? 1 : 0).Sum());
            Assert.Equal(expected, distances[i]);
        }

        Assert.Equal(vectors.Length, histogram.Sum());
        Assert.Equal(distances.Count(d => d == distances[0]), histogram[distances[0]]);
        Assert.Equal(6, rows.CodeWords);
    }

    [Theory]
    [InlineData(6, 1)]
    [InlineData(6, 5)]
    [InlineData(3, 2)]
    [InlineData(7, 3)]
    public void Every_kernel_counts_the_differing_bits_of_any_code_length(int words, int queryCount)
    {
        // Raw codes, every bit pattern equally likely (all ones and all zeros too): the 384-bit
        // kernel's carry-save adders and the general kernel against a plain popcount.
        var random = new Random(words * 10 + queryCount);
        const int count = 45;
        var rows = new ulong[VectorRows.CodeLength(count, words)];
        var plain = new ulong[count][];
        for (var r = 0; r < count; r++)
        {
            plain[r] = Enumerable.Range(0, words).Select(_ => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63)).ToArray();
            if (r == 0)
            {
                Array.Fill(plain[r], ulong.MaxValue);
            }

            for (var w = 0; w < words; w++)
            {
                rows[VectorRows.CodeIndex(r, w, words)] = plain[r][w];
            }
        }

        var queries = Enumerable.Range(0, queryCount * words).Select(_ => (ulong)random.NextInt64()).ToArray();
        // The first query all zeros: row 0 (all ones) differs from it in every bit.
        Array.Fill(queries, 0UL, 0, words);
        foreach (var vectorised in new[] { true, false })
        {
            var distances = new ushort[count];
            var histogram = new int[(words * 64) + 1];
            VectorRows.NearestCodes(rows, queries, words, distances, histogram, vectorised);
            for (var r = 0; r < count; r++)
            {
                var expected = Enumerable.Range(0, queryCount)
                    .Min(q => Enumerable.Range(0, words).Sum(w => System.Numerics.BitOperations.PopCount(plain[r][w] ^ queries[(q * words) + w])));
                Assert.Equal(expected, distances[r]);
            }

            Assert.Equal(count, histogram.Sum());
        }
    }

    [Fact]
    public void The_rows_within_a_distance_range_are_found_in_order()
    {
        var random = new Random(3);
        var distances = Enumerable.Range(0, 1_000).Select(_ => (ushort)random.Next(400)).ToArray();
        distances[999] = ushort.MaxValue; // outside any window
        foreach (var (from, below) in new[] { (0, 150), (150, 200), (200, 385), (385, 400), (10, 10) })
        {
            var found = new List<int>();
            VectorRows.RowsWithin(distances, from, below, found);

            Assert.Equal(Enumerable.Range(0, distances.Length).Where(i => distances[i] >= from && distances[i] < below), found);
        }
    }
}
