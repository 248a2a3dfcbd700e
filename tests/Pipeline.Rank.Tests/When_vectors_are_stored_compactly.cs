using System.Numerics.Tensors;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

public class When_vectors_are_stored_compactly
{
    private static (PaperIndex Index, float[][] Vectors) Build(VectorPrecision precision, int papers, int seed = 7)
    {
        var data = new ClusteredVectors(seed);
        var index = new PaperIndex(precision);
        var vectors = new float[papers][];
        for (var i = 0; i < papers; i++)
        {
            vectors[i] = data.Paper();
            index.Upsert(ClusteredVectors.PaperRecord($"p{i}"), vectors[i]);
        }

        return (index, vectors);
    }

    [Theory]
    [InlineData(VectorPrecision.Float16, 0.001)]
    [InlineData(VectorPrecision.Int8, 0.01)]
    public void A_stored_vector_reads_back_close_to_the_original(VectorPrecision precision, double tolerance)
    {
        var (index, vectors) = Build(precision, 200);
        for (var i = 0; i < vectors.Length; i++)
        {
            Assert.True(index.TryGet($"p{i}", out _, out var stored));
            Assert.InRange(TensorPrimitives.Dot(vectors[i], stored), 1 - tolerance, 1 + tolerance);
        }
    }

    [Theory]
    [InlineData(VectorPrecision.Float16, 0.001)]
    [InlineData(VectorPrecision.Int8, 0.01)]
    public void Scores_stay_within_the_precisions_error_of_exact_cosines(VectorPrecision precision, double tolerance)
    {
        var (index, vectors) = Build(precision, 2000);
        var query = new ClusteredVectors(7).Near(3, 1.2f);

        foreach (var hit in index.Top([query], 2000))
        {
            var exact = TensorPrimitives.Dot(query, vectors[int.Parse(hit.Paper.Paper.Id[1..], System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.InRange(hit.Relevance, exact - tolerance, exact + tolerance);
        }
    }

    [Theory]
    [InlineData(VectorPrecision.Float16, 0.98)]
    [InlineData(VectorPrecision.Int8, 0.9)]
    public void The_top_ten_are_nearly_the_exact_top_ten(VectorPrecision precision, double minimumOverlap)
    {
        var (exact, _) = Build(VectorPrecision.Float32, 20_000);
        var (compact, _) = Build(precision, 20_000);
        // Precision alone: both score every row (the prefilter has its own tests).
        exact.PrefilterFrom = compact.PrefilterFrom = int.MaxValue;
        var queries = new ClusteredVectors(99);
        var overlap = 0.0;
        for (var q = 0; q < 50; q++)
        {
            var query = queries.Near(q, 1.2f);
            var want = exact.Top([query], 10).Select(s => s.Paper.Paper.Id).ToHashSet();
            overlap += compact.Top([query], 10).Count(s => want.Contains(s.Paper.Paper.Id)) / 10.0;
        }

        Assert.True(overlap / 50 >= minimumOverlap, $"overlap@10 was {overlap / 50:F3}");
    }

    [Theory]
    [InlineData(VectorPrecision.Float32)]
    [InlineData(VectorPrecision.Float16)]
    [InlineData(VectorPrecision.Int8)]
    public void Scanning_on_two_threads_finds_what_one_thread_finds(VectorPrecision precision)
    {
        var (index, _) = Build(precision, 5000);
        var query = new ClusteredVectors(7).Near(11);

        index.ParallelThreshold = int.MaxValue;
        var single = index.Top([query, new ClusteredVectors(8).Near(5)], 25, p => !p.Paper.Id.EndsWith('3'));
        index.ParallelThreshold = 1;
        var parallel = index.Top([query, new ClusteredVectors(8).Near(5)], 25, p => !p.Paper.Id.EndsWith('3'));

        Assert.Equal(single.Select(s => (s.Paper.Paper.Id, s.Relevance, s.BestQuery)), parallel.Select(s => (s.Paper.Paper.Id, s.Relevance, s.BestQuery)));
    }

    [Theory]
    [InlineData(VectorPrecision.Float32)]
    [InlineData(VectorPrecision.Float16)]
    [InlineData(VectorPrecision.Int8)]
    public void A_scan_allocates_nothing_per_paper(VectorPrecision precision)
    {
        var (small, _) = Build(precision, 2_000);
        var (large, _) = Build(precision, 20_000);
        small.ParallelThreshold = large.ParallelThreshold = int.MaxValue;
        small.PrefilterFrom = large.PrefilterFrom = int.MaxValue;
        float[][] queries = [new ClusteredVectors(7).Near(1), new ClusteredVectors(7).Near(2)];
        small.Top(queries, 10);
        large.Top(queries, 10);

        // The least of three scans: the runtime may allocate on this thread once in a while (a
        // method recompiled mid-loop), which a CI run once counted as 4.8 KB; a cost per paper
        // would show in every scan.
        static long Allocated(PaperIndex index, float[][] queries) => Enumerable.Range(0, 3).Min(_ =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            index.Top(queries, 10, p => p.IngestedAt >= DateTimeOffset.UnixEpoch);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        });

        var forSmall = Allocated(small, queries);
        var forLarge = Allocated(large, queries);

        // Ten times the papers: only the heap's churn may grow, never a per-paper cost.
        Assert.True(forLarge - forSmall < 4_000, $"{forSmall} bytes for 2,000 papers, {forLarge} for 20,000");
    }

    [Fact]
    public void The_index_keeps_papers_without_their_abstracts()
    {
        var index = new PaperIndex();
        index.Upsert(ClusteredVectors.PaperRecord("a", "A long abstract that answers fetch from Redis."), new ClusteredVectors(1).Paper());

        Assert.True(index.TryGet("a", out var paper, out _));
        Assert.Equal("", paper!.Paper.Abstract);
        Assert.Equal("Title a", paper.Paper.Title);
        Assert.Equal(["cs.LG"], paper.Paper.Categories);
    }

    [Fact]
    public void Float16_takes_half_and_int8_about_a_quarter_of_the_memory_of_float32()
    {
        // Every precision also keeps a 48-byte sign code a row for the prefilter.
        const long codes = 4096 * 48;
        var f32 = Build(VectorPrecision.Float32, 4096).Index.VectorBytes - codes;
        Assert.Equal(f32 / 2, Build(VectorPrecision.Float16, 4096).Index.VectorBytes - codes);
        Assert.InRange(Build(VectorPrecision.Int8, 4096).Index.VectorBytes - codes, f32 / 4, (f32 / 4) + (4096 * sizeof(float)));
    }
}
