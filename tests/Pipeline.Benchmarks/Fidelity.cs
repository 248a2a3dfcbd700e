using System.Numerics.Tensors;

namespace Pipeline.Benchmarks;

/// <summary>
/// How far one set of vectors is from another for the same texts: cosine per text, and how much
/// the ranking changes when each text in turn is the query and the others are ranked by similarity
/// (which is what rank does with these vectors).
/// </summary>
public sealed record Fidelity(double MeanCosine, double MinCosine, double MeanSpearman, double MeanOverlapAt10, double SameTop1)
{
    public static Fidelity Compare(float[][] reference, float[][] candidate)
    {
        var cosines = reference.Zip(candidate, (a, b) => (double)TensorPrimitives.CosineSimilarity<float>(a, b)).ToArray();
        var spearman = new List<double>();
        var overlap = new List<double>();
        var sameTop1 = 0;
        for (var q = 0; q < reference.Length; q++)
        {
            var expected = RankOthers(reference, q);
            var actual = RankOthers(candidate, q);
            spearman.Add(Spearman(expected, actual));
            overlap.Add(expected.Take(10).Intersect(actual.Take(10)).Count() / 10.0);
            sameTop1 += expected[0] == actual[0] ? 1 : 0;
        }

        return new(cosines.Average(), cosines.Min(), spearman.Average(), overlap.Average(), (double)sameTop1 / reference.Length);
    }

    /// <summary>The other texts' indices, most similar to <paramref name="query"/> first.</summary>
    private static int[] RankOthers(float[][] vectors, int query) =>
        Enumerable.Range(0, vectors.Length).Where(i => i != query)
            .OrderByDescending(i => TensorPrimitives.Dot<float>(vectors[query], vectors[i]))
            .ToArray();

    private static double Spearman(int[] expected, int[] actual)
    {
        var position = new Dictionary<int, int>();
        for (var r = 0; r < actual.Length; r++)
        {
            position[actual[r]] = r;
        }

        double n = expected.Length;
        var squares = expected.Select((item, r) => Math.Pow(r - position[item], 2)).Sum();
        return 1 - 6 * squares / (n * (n * n - 1));
    }
}
