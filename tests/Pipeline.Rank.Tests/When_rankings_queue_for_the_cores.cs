using Microsoft.Extensions.Configuration;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

public class When_rankings_queue_for_the_cores
{
    [Fact]
    public async Task No_more_run_at_once_than_the_gate_has_slots_and_every_one_finishes()
    {
        var gate = new RankingGate(2);
        var running = 0;
        var most = 0;
        var release = new ManualResetEventSlim();
        var calls = Enumerable.Range(0, 8).Select(i => Task.Run(() => gate.RunAsync(() =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            release.Wait(TimeSpan.FromSeconds(10));
            Thread.Sleep(5);
            Interlocked.Decrement(ref running);
            return i;
        }, CancellationToken.None))).ToArray();

        // Two get in (as soon as the thread pool runs them, which on a busy machine takes a while)
        // and no third follows while they hold their slots.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Volatile.Read(ref running) < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(2, Volatile.Read(ref running));
        await Task.Delay(200);
        Assert.Equal(2, Volatile.Read(ref running));
        release.Set();

        Assert.Equal(Enumerable.Range(0, 8), (await Task.WhenAll(calls)).Order());
        Assert.Equal(2, most);
    }

    [Fact]
    public async Task A_caller_that_gives_up_while_waiting_leaves_its_place_to_the_next()
    {
        var gate = new RankingGate(1);
        var release = new ManualResetEventSlim();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busy = Task.Run(() => gate.RunAsync(
            () =>
            {
                holding.SetResult();
                return release.Wait(TimeSpan.FromSeconds(30));
            },
            CancellationToken.None));
        await holding.Task.WaitAsync(TimeSpan.FromSeconds(20));

        using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var ran = false;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.RunAsync(() => ran = true, giveUp.Token));
        release.Set();
        await busy;

        // The slot the first call held and the abandoned wait are both back: the next call runs.
        Assert.Equal(42, await gate.RunAsync(() => 42, CancellationToken.None));
        Assert.False(ran);
    }

    [Fact]
    public void The_service_takes_one_slot_per_core_unless_configured()
    {
        var configured = new RankingGate(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Ranking:ConcurrentRankings"] = "3" }).Build());
        Assert.Equal(3, configured.Slots);
        Assert.Equal(Environment.ProcessorCount, new RankingGate(new ConfigurationBuilder().Build()).Slots);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
