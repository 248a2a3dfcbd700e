using Pipeline.Ingest.Papers;

namespace Pipeline.Ingest.Tests;

public class PaperLocksSpecs
{
    [Fact]
    public async Task A_paper_held_by_one_intake_waits_for_it_and_papers_not_shared_do_not()
    {
        var locks = new PaperLocks();
        var first = await locks.HoldAsync(["2410.00002", "2410.00001"], CancellationToken.None);

        var same = locks.HoldAsync(["2410.00003", "2410.00001"], CancellationToken.None);
        var other = await locks.HoldAsync(["2410.00004"], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        await Task.Delay(100);
        Assert.False(same.IsCompleted);

        first.Dispose();
        (await same.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
        other.Dispose();
        Assert.Equal(0, locks.Count);
    }

    [Fact]
    public async Task Two_intakes_holding_the_same_papers_in_opposite_orders_never_wait_on_each_other()
    {
        var locks = new PaperLocks();
        var tasks = Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            string[] ids = i % 2 == 0 ? ["a", "b", "c"] : ["c", "b", "a"];
            using (await locks.HoldAsync(ids, CancellationToken.None))
            {
                await Task.Yield();
            }
        }));

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, locks.Count);
    }

    [Fact]
    public async Task A_wait_given_up_leaves_nothing_held()
    {
        var locks = new PaperLocks();
        var first = await locks.HoldAsync(["b"], CancellationToken.None);
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => locks.HoldAsync(["a", "b"], giveUp.Token));

        first.Dispose();
        (await locks.HoldAsync(["a", "b"], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
        Assert.Equal(0, locks.Count);
    }
}
