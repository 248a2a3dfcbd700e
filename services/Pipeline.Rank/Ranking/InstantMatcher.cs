using System.Globalization;

namespace Pipeline.Rank.Ranking;

/// <summary>A new paper that passed an instant-alert subscriber's threshold.</summary>
public sealed record InstantMatch(SubscriberProfile Profile, double Score, string Interest, string Reason);

/// <summary>Scores a new paper against every instant-alert profile.</summary>
public sealed class InstantMatcher(ProfileIndex profiles)
{
    public IReadOnlyList<InstantMatch> Match(ReadOnlySpan<float> paperVector)
    {
        var matches = new List<InstantMatch>();
        foreach (var profile in profiles.All)
        {
            if (!profile.WantsInstantAlerts || profile.Vectors.Count == 0)
            {
                continue;
            }

            var (score, query) = PaperIndex.MaxSimilarity(profile.Vectors, paperVector);
            if (score >= profile.InstantThreshold)
            {
                var interest = profile.Interests[query];
                matches.Add(new InstantMatch(profile, score, interest, Reasons.MatchesInterest(interest, score)));
            }
        }

        return matches;
    }
}

/// <summary>Reasons a person can read.</summary>
public static class Reasons
{
    public static string MatchesInterest(string interest, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"matches your interest '{interest}' (similarity {score:F2})");

    public static string MatchesQuery(string query, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"matches '{query}' (similarity {score:F2})");

    public static string SimilarTo(string title, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"similar to '{title}' (similarity {score:F2})");
}
