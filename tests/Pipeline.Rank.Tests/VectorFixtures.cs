using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// Unit vectors shaped like sentence embeddings: topics (cluster centres sharing a common
/// direction, as MiniLM's do) and papers scattered around them, so cosines look like real ones:
/// about 0.5 within a topic and 0.1 to 0.2 across.
/// </summary>
internal sealed class ClusteredVectors(int seed, int topics = 200)
{
    private readonly Random _random = new(seed);
    private float[][]? _centres;

    public float[][] Centres => _centres ??= Enumerable.Range(0, topics).Select(_ => Normalise(Add(Gaussian(), Shared, 0.5f))).ToArray();

    /// <summary>The direction every topic leans towards (sentence embeddings are not centred).</summary>
    private float[] Shared { get; } = Normalise(Enumerable.Range(0, PaperIndex.Dimensions).Select(i => MathF.Sin(i * 0.7f + seed)).ToArray());

    /// <summary>A vector near topic <paramref name="topic"/>; larger <paramref name="spread"/> is further away.</summary>
    public float[] Near(int topic, float spread = 1f) => Normalise(Add(Centres[topic], Gaussian(), spread));

    public float[] Paper() => Near(_random.Next(Centres.Length));

    public static IndexedPaper PaperRecord(string id, string @abstract = "An abstract.") =>
        new(new PaperSummary(id, 1, "Title " + id, @abstract, ["Ada Lovelace"], ["cs.LG"], DateTimeOffset.UnixEpoch, "https://arxiv.org/abs/" + id, "api", 0), DateTimeOffset.UnixEpoch);

    private float[] Gaussian()
    {
        // Box–Muller; variance 1/d per element so the vector's norm is about 1.
        var v = new float[PaperIndex.Dimensions];
        var sigma = 1 / MathF.Sqrt(PaperIndex.Dimensions);
        for (var i = 0; i < v.Length; i++)
        {
            var u1 = 1 - _random.NextDouble();
            var u2 = _random.NextDouble();
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)) * sigma;
        }

        return v;
    }

    private static float[] Add(float[] a, float[] b, float weight) => a.Zip(b, (x, y) => x + (weight * y)).ToArray();

    internal static float[] Normalise(float[] v)
    {
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }
}
