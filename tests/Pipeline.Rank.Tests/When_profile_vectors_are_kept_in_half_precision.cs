using System.Numerics.Tensors;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

public class When_profile_vectors_are_kept_in_half_precision
{
    private static SubscriberProfile Profile(string id, params float[][] vectors) =>
        new(id, vectors.Select((_, i) => $"interest {i}").ToArray(), vectors, "instant", 0.5, DateTimeOffset.UnixEpoch);

    [Fact]
    public void A_stored_profile_scores_papers_within_a_ten_thousandth_of_its_fp32_vectors()
    {
        var data = new ClusteredVectors(31, topics: 20);
        var original = Enumerable.Range(0, 3).Select(t => data.Near(t, 0.8f)).ToArray();
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("s", original));
        var stored = profiles.Get("s")!.Vectors;

        Assert.Equal(3, stored.Count);
        var worst = 0.0;
        for (var p = 0; p < 500; p++)
        {
            var paper = data.Paper();
            for (var v = 0; v < original.Length; v++)
            {
                worst = Math.Max(worst, Math.Abs(TensorPrimitives.Dot(original[v], paper) - TensorPrimitives.Dot(stored[v], paper)));
            }
        }

        Assert.True(worst < 2e-4, $"a cosine moved by {worst}");
        Assert.True(worst > 0, "the vectors were not rounded at all: they are not kept in half precision");
    }

    [Fact]
    public void Reading_a_vector_gives_a_copy_that_cannot_change_the_profile()
    {
        var data = new ClusteredVectors(32, topics: 5);
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("s", data.Near(0), data.Near(1)));
        var profile = profiles.Get("s")!;

        var first = profile.Vectors[0];
        Array.Clear(first);

        Assert.NotSame(first, profile.Vectors[0]);
        Assert.True(TensorPrimitives.Norm(profile.Vectors[0]) > 0.99f);
        Assert.Equal(2, profile.Vectors.Count());
    }

    [Fact]
    public void A_vector_of_the_wrong_length_keeps_its_length_so_matching_still_skips_it()
    {
        var data = new ClusteredVectors(33, topics: 5);
        var profiles = new ProfileIndex();
        profiles.Upsert(Profile("bad", [0.6f, 0.8f, 0f]));
        profiles.Upsert(Profile("good", data.Near(0, 0.1f)) with { InstantThreshold = 0.2 });

        Assert.Equal(3, profiles.Get("bad")!.Vectors[0].Length);
        var match = Assert.Single(new InstantMatcher(profiles).Match(data.Near(0, 0.1f)));
        Assert.Equal("good", match.Profile.SubscriberId);
    }

    [Fact]
    public void They_take_half_the_memory_of_fp32_arrays()
    {
        var data = new ClusteredVectors(34, topics: 5);
        var vectors = Enumerable.Range(0, 3).Select(t => data.Near(t)).ToArray();
        HalfVectors.Of(vectors);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var half = HalfVectors.Of(vectors);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var fp32 = 3 * (PaperIndex.Dimensions * sizeof(float) + 24);

        Assert.True(allocated < fp32 * 0.55, $"{allocated} bytes for what fp32 arrays hold in {fp32}");
        Assert.Same(half, HalfVectors.Of(half));
    }
}
