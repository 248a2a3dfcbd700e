using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

public class When_a_paper_is_matched_against_instant_profiles
{
    /// <summary>The obvious loop over every profile in fp32: what the matrix matcher must equal.</summary>
    private static List<(string Subscriber, double Score, string Interest)> Simple(ProfileIndex profiles, float[] paper)
    {
        var matches = new List<(string, double, string)>();
        foreach (var profile in profiles.All.Where(p => p.WantsInstantAlerts && p.Vectors.Count > 0))
        {
            var (score, query) = PaperIndex.MaxSimilarity(profile.Vectors, paper);
            if (score >= profile.InstantThreshold)
            {
                matches.Add((profile.SubscriberId, score, profile.Interests[query]));
            }
        }

        return matches.OrderBy(m => m.Item1, StringComparer.Ordinal).ToList();
    }

    private static ProfileIndex Profiles(ClusteredVectors data, int count, Random random, Func<int, double> threshold)
    {
        var profiles = new ProfileIndex();
        profiles.UpsertMany(Enumerable.Range(0, count).Select(i =>
        {
            var vectors = Enumerable.Range(0, 1 + random.Next(5)).Select(_ => data.Near(random.Next(data.Centres.Length), 0.8f)).ToArray();
            return new SubscriberProfile($"s{i}", vectors.Select((_, v) => $"interest {i}.{v}").ToArray(), vectors,
                i % 7 == 0 ? "daily" : "instant", threshold(i), DateTimeOffset.UnixEpoch);
        }));
        return profiles;
    }

    [Fact]
    public void The_matrix_matcher_finds_exactly_what_the_simple_loop_finds()
    {
        var data = new ClusteredVectors(21, topics: 40);
        var random = new Random(5);
        var profiles = Profiles(data, 3000, random, _ => 0.3 + (random.NextDouble() * 0.4));
        var matcher = new InstantMatcher(profiles);

        for (var p = 0; p < 40; p++)
        {
            var paper = data.Near(p % 40);
            var got = matcher.Match(paper).Select(m => (m.Profile.SubscriberId, m.Score, m.Interest)).OrderBy(m => m.SubscriberId, StringComparer.Ordinal).ToList();
            Assert.Equal(Simple(profiles, paper), got);
        }
    }

    [Fact]
    public void A_score_a_hair_above_the_threshold_matches_and_a_hair_below_does_not()
    {
        // Thresholds set to each profile's exact score, nudged by less than fp16's error: only the
        // fp32 re-check can tell these apart.
        var data = new ClusteredVectors(3, topics: 10);
        var paper = data.Near(0);
        var random = new Random(9);
        var profiles = Profiles(data, 500, random, _ => 0);
        var exact = profiles.All.ToDictionary(p => p.SubscriberId, p => PaperIndex.MaxSimilarity(p.Vectors, paper).Score);
        var nudged = new ProfileIndex();
        nudged.UpsertMany(profiles.All.Select((p, i) => p with { InstantThreshold = exact[p.SubscriberId] + (i % 2 == 0 ? -1e-5 : 1e-5) }));

        Assert.Equal(Simple(nudged, paper), new InstantMatcher(nudged).Match(paper).Select(m => (m.Profile.SubscriberId, m.Score, m.Interest)).OrderBy(m => m.SubscriberId, StringComparer.Ordinal).ToList());
    }

    [Fact]
    public void A_profile_changed_after_a_match_is_matched_with_its_new_interests()
    {
        var profiles = new ProfileIndex();
        var matcher = new InstantMatcher(profiles);
        var data = new ClusteredVectors(4, topics: 5);
        var paper = data.Near(0, 0.1f);
        profiles.Upsert(new SubscriberProfile("s", ["far"], [data.Near(4, 0.1f)], "instant", 0.9, DateTimeOffset.UnixEpoch));
        Assert.Empty(matcher.Match(paper));

        profiles.Upsert(new SubscriberProfile("s", ["near"], [data.Near(0, 0.1f)], "instant", 0.9, DateTimeOffset.UnixEpoch));

        Assert.Equal("near", Assert.Single(matcher.Match(paper)).Interest);
    }

    [Fact]
    public void Matching_allocates_nothing_per_profile()
    {
        var data = new ClusteredVectors(8, topics: 50);
        var random = new Random(1);
        // Thresholds no cosine reaches: every allocation left is per call, not per profile.
        var few = new InstantMatcher(Profiles(data, 500, random, _ => 2));
        var many = new InstantMatcher(Profiles(data, 5000, random, _ => 2));
        var paper = data.Near(1);
        few.Match(paper);
        many.Match(paper);

        // The least of five calls each: a one-off of the runtime's (seen once in a full test run,
        // while other classes ran) is not the matcher's; an allocation per profile is in every call.
        static long Allocated(InstantMatcher matcher, float[] paper)
        {
            var least = long.MaxValue;
            for (var i = 0; i < 5; i++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                matcher.Match(paper);
                least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            }

            return least;
        }

        var forFew = Allocated(few, paper);
        var forMany = Allocated(many, paper);

        Assert.True(forMany - forFew < 1_000, $"{forFew} bytes for 500 profiles, {forMany} for 5,000");
    }
}
