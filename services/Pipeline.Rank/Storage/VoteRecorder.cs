using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Storage;

/// <summary>
/// Records a vote in rank's Redis, then counts it in memory (<see cref="Feedback"/>), one vote of a
/// voter on a paper at a time: a +1 and a -1 of the same voter on the same paper sent at once
/// could otherwise be written to Redis in one order and counted in the other, leaving memory at +1
/// and Redis at -1 (and the vote flipped at the next restart). Votes of other voters or on other
/// papers wait for each other only when their hashes share a lock (<see cref="StripedLocks"/>).
/// </summary>
public sealed class VoteRecorder(FeedbackStore store, Feedback feedback)
{
    private readonly StripedLocks _locks = new();

    /// <summary>Records <paramref name="voterId"/>'s vote (+1, -1, or 0 to withdraw) on <paramref name="paperId"/>.</summary>
    /// <returns>Whether the vote changed what was counted (false: the same vote again).</returns>
    public async Task<bool> VoteAsync(string paperId, string voterId, int value, CancellationToken cancellationToken)
    {
        var key = HashCode.Combine(paperId.GetHashCode(StringComparison.Ordinal), voterId.GetHashCode(StringComparison.Ordinal));
        using (await _locks.EnterAsync(key, cancellationToken))
        {
            // Redis first, every time (the write is idempotent): a vote whose write failed (Redis out of
            // reach: UNAVAILABLE) is not in memory either, so the client's retry finds it new and saves
            // it. Memory first, the retry found the vote already there and skipped the write, and the
            // vote was gone at the next restart.
            await store.SaveVoteAsync(paperId, voterId, value);
            return feedback.Vote(paperId, voterId, value);
        }
    }
}
