using System.Collections.Concurrent;
using Pipeline.Contracts.Rank.V1;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// A paper on the trending board: its score, points (source upvotes + net votes, never below 0),
/// net votes cast here and the up votes among them.
/// </summary>
public readonly record struct TrendingEntry(IndexedPaper Paper, double Score, int Points, int Votes = 0, int UpVotes = 0)
{
    /// <summary>"64 upvotes in 2 days" (<see cref="TrendingScore.Reason(int, int, TimeSpan, int, bool)"/>) at <paramref name="now"/>.</summary>
    public string Reason(DateTimeOffset now) => TrendingScore.Reason(Paper.Paper.Upvotes, Votes, now - Paper.SeenAt, UpVotes, Paper.SeenByFeaturing);
}

/// <summary>
/// The trending front page (<see cref="TrendingScore"/>): <see cref="Top"/> computes it, and
/// answers are kept by window, category and limit until the index or the votes change, or for
/// <see cref="Lifetime"/> at most. Trending is the same page for everyone, asked for far more
/// often than papers and votes arrive, and computing it walks every paper; a kept answer is a
/// dictionary lookup. The lifetime bounds how far ages ("64 upvotes in 2 days") and the order drift
/// with the clock alone: heat decays continuously, so two papers can swap places with no event.
/// </summary>
public sealed class TrendingBoard(PaperIndex papers, Feedback feedback)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);
    private const int MaxEntries = 1_024;

    private readonly ConcurrentDictionary<(TrendingWindowKind Window, string Category, int Limit), Entry> _kept = new();

    /// <summary>Changes whenever something a trending answer shows can change (papers, votes). Read it before computing an answer.</summary>
    public long Version => papers.Version + feedback.Version;

    /// <summary>
    /// The <paramref name="limit"/> hottest papers of the window (of one category when not empty),
    /// hottest first, without the papers of <paramref name="leftOut"/> (a subscriber's page).
    /// </summary>
    public IReadOnlyList<TrendingEntry> Top(TrendingWindowKind window, string category, int limit, DateTimeOffset now, LeftOut? leftOut = null)
    {
        var from = now - TrendingScore.Span(window);
        var top = new PriorityQueue<TrendingEntry, double>(limit + 1);
        var anyVotes = feedback.AnyVotes;
        foreach (var paper in papers.SeenSince(from, category))
        {
            if (leftOut is not null && leftOut.Contains(paper))
            {
                continue;
            }

            var votes = anyVotes ? feedback.Votes(paper.Ordinal) : 0;
            var points = TrendingScore.Points(paper.Paper.Upvotes, votes);
            var score = TrendingScore.Of(points, now - paper.SeenAt);
            top.Enqueue(new TrendingEntry(paper, score, points, votes, votes == 0 && points == 0 && anyVotes ? feedback.UpVotes(paper.Ordinal) : 0), score);
            if (top.Count > limit)
            {
                top.Dequeue();
            }
        }

        var hottest = new TrendingEntry[top.Count];
        for (var i = hottest.Length - 1; i >= 0; i--)
        {
            hottest[i] = top.Dequeue();
        }

        return hottest;
    }

    /// <summary>A kept answer for the same question, computed from the current state less than <see cref="Lifetime"/> ago; else null.</summary>
    public RankedPapers? Kept(TrendingWindowKind window, string category, int limit, DateTimeOffset now) =>
        _kept.TryGetValue((window, category.ToLowerInvariant(), limit), out var entry)
            && entry.Version == Version && now >= entry.At && now - entry.At < Lifetime
            ? entry.Answer
            : null;

    /// <summary>Keeps <paramref name="answer"/>, computed at <paramref name="now"/> from the state of <paramref name="version"/>.</summary>
    public void Keep(TrendingWindowKind window, string category, int limit, long version, DateTimeOffset now, RankedPapers answer)
    {
        if (_kept.Count >= MaxEntries)
        {
            _kept.Clear();
        }

        _kept[(window, category.ToLowerInvariant(), limit)] = new Entry(version, now, answer);
    }

    private sealed record Entry(long Version, DateTimeOffset At, RankedPapers Answer);
}
