using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pipeline.ServiceDefaults.Tests;

public sealed class OldGenerationSweepSpecs
{
    private const long Mb = 1_000_000;

    [Fact]
    public void The_old_generation_is_swept_once_it_has_grown_by_the_threshold_since_the_last_full_collection()
    {
        var sweep = new OldGenerationSweep(16 * Mb);

        // Full collection 10 left 200 MB; gen1 collections since promoted 5, then 15, then 16 MB.
        Assert.False(sweep.Look(lastIndex: 11, oldAfterLast: 205 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
        Assert.False(sweep.Look(lastIndex: 12, oldAfterLast: 215 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
        Assert.True(sweep.Look(lastIndex: 13, oldAfterLast: 216 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
    }

    [Fact]
    public void A_sweep_asked_for_is_not_asked_for_again_before_a_full_collection_has_run()
    {
        var sweep = new OldGenerationSweep(16 * Mb);

        Assert.True(sweep.Look(lastIndex: 13, oldAfterLast: 230 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
        // The background collection is under way; gen1 collections go on promoting.
        Assert.False(sweep.Look(lastIndex: 14, oldAfterLast: 240 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
        // It ended (collection 15) with 205 MB: growth is counted from there.
        Assert.False(sweep.Look(lastIndex: 15, oldAfterLast: 205 * Mb, fullIndex: 15, oldAfterFull: 205 * Mb));
        Assert.False(sweep.Look(lastIndex: 17, oldAfterLast: 215 * Mb, fullIndex: 15, oldAfterFull: 205 * Mb));
        Assert.True(sweep.Look(lastIndex: 19, oldAfterLast: 222 * Mb, fullIndex: 15, oldAfterFull: 205 * Mb));
    }

    [Fact]
    public void A_heap_that_shrinks_or_holds_still_is_left_alone()
    {
        var sweep = new OldGenerationSweep(16 * Mb);

        Assert.False(sweep.Look(lastIndex: 10, oldAfterLast: 200 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
        Assert.False(sweep.Look(lastIndex: 30, oldAfterLast: 150 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
        Assert.False(sweep.Look(lastIndex: 31, oldAfterLast: 215 * Mb, fullIndex: 10, oldAfterFull: 200 * Mb));
    }

    [Fact]
    public void It_is_on_by_default_and_zero_turns_it_off()
    {
        var byDefault = OldGenerationSweeper.From(new ConfigurationBuilder().Build());
        Assert.NotNull(byDefault);
        Assert.Equal(16 * Mb, byDefault.AfterBytes);

        var off = OldGenerationSweeper.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Memory:SweepWhenOldGrewMegabytes"] = "0" }).Build());
        Assert.Null(off);
    }
}

/// <summary>The sweeper against this process's own collector (alone: other tests' collections would move its baseline).</summary>
[Collection(nameof(CollectorAlone))]
public sealed class OldGenerationSweeperSpecs
{
    private const long Mb = 1_000_000;

    [Fact]
    public async Task Garbage_promoted_into_the_old_generation_starts_a_full_collection_that_frees_it()
    {
        var sweeper = new OldGenerationSweeper(new OldGenerationSweep(2 * Mb), NullLogger<OldGenerationSweeper>.Instance, TimeProvider.System);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        Assert.False(sweeper.LookOnce());

        // What calls hold while a gen1 collection runs: 40 MB of small arrays, promoted into gen2,
        // then dropped. In a process this small the collector starts a background collection of
        // its own meanwhile (its gen2 budget is small; rank's, sized from a 250 MB heap, is not),
        // which moves the baseline to part-way: hence the low threshold, and a few tries.
        List<WeakReference> dropped = [];
        var fullBefore = 0;
        var asked = false;
        for (var attempt = 0; attempt < 5 && !asked; attempt++)
        {
            dropped = Promoted(10_000, 4_000);
            fullBefore = GC.CollectionCount(GC.MaxGeneration);
            asked = sweeper.LookOnce();
        }

        Assert.True(asked, Collections());
        Assert.Equal(1, sweeper.Sweeps);
        Assert.False(sweeper.LookOnce()); // asked once, not again while it runs

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((GC.CollectionCount(GC.MaxGeneration) == fullBefore || dropped.Any(w => w.IsAlive)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(GC.CollectionCount(GC.MaxGeneration) > fullBefore, "no full collection ran");
        Assert.DoesNotContain(dropped, w => w.IsAlive);
    }

    private static string Collections() => string.Join("; ", new[] { GCKind.Any, GCKind.Ephemeral, GCKind.FullBlocking, GCKind.Background }
        .Select(kind => GC.GetGCMemoryInfo(kind))
        .Select(info => $"#{info.Index} gen{info.Generation} old {info.GenerationInfo[2].SizeAfterBytes / Mb} MB"));

    /// <summary>Allocates arrays, has gen1 collections promote them into gen2, and drops them; weak references to a sample.</summary>
    private static List<WeakReference> Promoted(int count, int bytes)
    {
        var held = new List<byte[]>(count);
        for (var i = 0; i < count; i++)
        {
            held.Add(new byte[bytes]);
        }

        // Gen1 collections only, as a busy service has them (the collector may keep some survivors back a round).
        for (var round = 0; round < 4 && held.Any(a => GC.GetGeneration(a) < 2); round++)
        {
            GC.Collect(1, GCCollectionMode.Forced, blocking: true);
        }

        Assert.All(held.Where((_, i) => i % 1_000 == 0), a => Assert.Equal(2, GC.GetGeneration(a)));
        return [.. held.Where((_, i) => i % 1_000 == 0).Select(a => new WeakReference(a))];
    }
}

[CollectionDefinition(nameof(CollectorAlone), DisableParallelization = true)]
public sealed class CollectorAlone;
