using System.Globalization;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// What is hot, in one formula a reader can check by hand:
/// <code>trending = (points + 1) / (age_hours + 2) ^ 1.5</code>
/// where <c>points</c> = the source's upvotes (Hugging Face daily papers) + net votes cast here
/// (never below 0), and <c>age_hours</c> = hours since the paper appeared (published, else ingested).
/// Each doubling of a paper's age cuts its heat to about a third (2^-1.5 = 0.35; less of a cut
/// while it is young, through the +2), so a new paper with a few votes
/// overtakes an old one with many, and a paper needs a steady flow of votes to stay on top — the
/// Hacker News gravity rule, with gravity 1.5 instead of 1.8 because papers are read over days, not hours.
/// </summary>
public static class TrendingScore
{
    public const double Gravity = 1.5;

    public static int Points(int upvotes, int votes) => Math.Max(0, upvotes + votes);

    public static double Of(int points, TimeSpan age)
    {
        var hours = Math.Max(0, age.TotalHours);
        return (points + 1) / Math.Pow(hours + 2, Gravity);
    }

    /// <summary>How far back a window reaches.</summary>
    public static TimeSpan Span(TrendingWindowKind window) => window switch
    {
        TrendingWindowKind.Week => TimeSpan.FromDays(7),
        TrendingWindowKind.Month => TimeSpan.FromDays(30),
        _ => TimeSpan.FromDays(1),
    };

    /// <summary>
    /// "64 upvotes in 2 days", "3 upvotes in the last hour", "new in the last hour", "no upvotes yet,
    /// 5 hours old": the points (source upvotes and net votes cast here) and the age, whole hours
    /// under two days, whole days after. A paper whose down votes cancel its upvotes
    /// (<paramref name="voted"/>: it has upvotes or votes, yet no points) has "no net upvotes in 5 hours".
    /// A paper whose age counts from its featuring on a daily-papers site (<paramref name="sinceFeatured"/>)
    /// says so: "88 upvotes in 5 hours since it was featured", "no upvotes yet, featured 5 hours ago".
    /// </summary>
    public static string Reason(int points, TimeSpan age, bool voted = false, bool sinceFeatured = false)
    {
        var span = age.TotalHours < 1 ? "the last hour"
            : age.TotalHours < 48 ? Plural((int)age.TotalHours, "hour")
            : Plural((int)age.TotalDays, "day");
        var since = sinceFeatured ? " since it was featured" : "";
        return (points, age.TotalHours < 1) switch
        {
            (0, _) when voted => $"no net upvotes in {span}{since}",
            (0, true) => sinceFeatured ? "featured in the last hour" : "new in the last hour",
            (0, false) => sinceFeatured ? $"no upvotes yet, featured {span} ago" : $"no upvotes yet, {span} old",
            _ => $"{Plural(points, "upvote")} in {span}{since}",
        };
    }

    /// <summary>
    /// The reason for a paper with <paramref name="upvotes"/> from its source, <paramref name="votes"/>
    /// net votes cast here and <paramref name="upVotesCast"/> up votes among them (down votes can cancel them to 0).
    /// </summary>
    public static string Reason(int upvotes, int votes, TimeSpan age, int upVotesCast = 0, bool sinceFeatured = false) =>
        Reason(Points(upvotes, votes), age, voted: upvotes != 0 || votes != 0 || upVotesCast > 0, sinceFeatured);

    /// <summary>Freshness in [0, 1]: 1 now, 0.5 after a week, 0.25 after two.</summary>
    public static double Recency(TimeSpan age) => Math.Pow(0.5, Math.Max(0, age.TotalDays) / 7);

    private static string Plural(int n, string unit) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {unit}{(n == 1 ? "" : "s")}");
}

public enum TrendingWindowKind
{
    Day,
    Week,
    Month,
}
