using Pipeline.Rank.Ranking;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Tests.Storage;

/// <summary>
/// A +1 and a -1 of one voter on one paper sent at once: what rank counts is what its Redis holds,
/// so a restart does not flip the vote.
/// </summary>
public class When_a_voter_votes_both_ways_at_once(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task The_vote_counted_is_the_vote_stored_when_the_first_one_is_resumed_last()
    {
        var store = new FeedbackStore(redis.NewDatabase());
        var feedback = new Feedback();
        var votes = new VoteRecorder(store, feedback);

        // Each vote resumes after its Redis write in the order least favourable to it: the newest first.
        var (up, down) = NewestFirstContext.Run(
            () => votes.VoteAsync("2611.00001", "ada", 1, CancellationToken.None),
            () => votes.VoteAsync("2611.00001", "ada", -1, CancellationToken.None));

        await Task.WhenAll(up, down);
        var restarted = new Feedback();
        await store.LoadVotesAndPreferencesAsync(restarted);
        Assert.Equal(-1, restarted.Votes("2611.00001"));
        Assert.Equal(restarted.Votes("2611.00001"), feedback.Votes("2611.00001"));
    }

    [Fact]
    public async Task A_change_waits_for_another_of_the_same_key_only()
    {
        var held = new StripedLocks(64);
        using (await held.EnterAsync(1, CancellationToken.None))
        {
            var other = held.EnterAsync(2, CancellationToken.None);
            Assert.True(other.IsCompleted);
            (await other).Dispose();

            var same = held.EnterAsync(65, CancellationToken.None).AsTask(); // 65 % 64: the lock held
            Assert.False(same.IsCompleted);
            _ = same.ContinueWith(t => t.Result.Dispose(), TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Runs continuations posted to it one at a time, on the test's thread, newest first, each after
    /// a pause that lets every Redis reply in flight arrive: two calls whose writes are both
    /// answered resume in the opposite order of their writes.
    /// </summary>
    private sealed class NewestFirstContext : SynchronizationContext
    {
        private readonly List<(SendOrPostCallback Callback, object? State)> _posted = [];

        public static (Task<T> First, Task<T> Second) Run<T>(Func<Task<T>> first, Func<Task<T>> second)
        {
            var context = new NewestFirstContext();
            var previous = Current;
            SetSynchronizationContext(context);
            try
            {
                var (a, b) = (first(), second());
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (!(a.IsCompleted && b.IsCompleted))
                {
                    Assert.True(DateTime.UtcNow < deadline, "the votes did not finish");
                    Thread.Sleep(100);
                    (SendOrPostCallback Callback, object? State)? next = null;
                    lock (context._posted)
                    {
                        if (context._posted.Count > 0)
                        {
                            next = context._posted[^1];
                            context._posted.RemoveAt(context._posted.Count - 1);
                        }
                    }

                    next?.Callback(next.Value.State);
                }

                return (a, b);
            }
            finally
            {
                SetSynchronizationContext(previous);
            }
        }

        public override void Post(SendOrPostCallback d, object? state)
        {
            lock (_posted)
            {
                _posted.Add((d, state));
            }
        }

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException();
    }
}
