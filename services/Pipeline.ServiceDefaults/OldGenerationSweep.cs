using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// When to sweep the old generation while calls keep coming: once it has grown by
/// <see cref="AfterBytes"/> since the last full collection. Under a steady stream of calls, each
/// gen1 collection promotes what the calls in flight hold at that moment into gen2, where it dies
/// at once but stays until a full collection, and the collector, sizing gen2's budget from the
/// whole heap, lets it pile up: rank's gen2 grew by 50–75 MB over a minute of 16-client bursts with
/// no full collection. A background collection marks and sweeps while the calls go on (its pauses
/// are short), and the promotions that follow fill the swept space instead of growing the heap.
/// Decides only; <see cref="OldGenerationSweeper"/> collects.
/// </summary>
public sealed class OldGenerationSweep(long afterBytes)
{
    private long _askedAfter = -1; // the full collection after which a sweep was last asked for

    public long AfterBytes { get; } = afterBytes;

    /// <summary>
    /// True when it is time to sweep: the old generation after the last collection of any kind
    /// (<paramref name="lastIndex"/>, <paramref name="oldAfterLast"/> bytes) is at least
    /// <see cref="AfterBytes"/> larger than after the last full one (<paramref name="fullIndex"/>,
    /// <paramref name="oldAfterFull"/>). Asks once per full collection, so a sweep under way is
    /// not asked for again.
    /// </summary>
    public bool Look(long lastIndex, long oldAfterLast, long fullIndex, long oldAfterFull)
    {
        if (fullIndex == _askedAfter || lastIndex <= fullIndex || oldAfterLast - oldAfterFull < AfterBytes)
        {
            return false;
        }

        _askedAfter = fullIndex;
        return true;
    }
}

/// <summary>
/// Looks once a second whether <see cref="OldGenerationSweep"/> says to sweep, and then starts a
/// background (concurrent, non-compacting) collection of the whole heap. It does not hand memory
/// back to the system (the idle trim does that, once quiet: <see cref="IdleMemoryTrimmer"/>); it
/// stops the heap growing while busy. <c>Memory:SweepWhenOldGrewMegabytes</c> (16; 0 turns it
/// off) sets it; rank, whose heap is the largest, sets 4 (docs/benchmarks.md, "Sweeping sooner").
/// </summary>
public sealed class OldGenerationSweeper(OldGenerationSweep sweep, ILogger<OldGenerationSweeper> logger, TimeProvider time) : BackgroundService
{
    public static OldGenerationSweep? From(IConfiguration configuration)
    {
        var megabytes = configuration.GetValue("Memory:SweepWhenOldGrewMegabytes", 16L);
        return megabytes > 0 ? new OldGenerationSweep(megabytes * 1_000_000) : null;
    }

    /// <summary>Sweeps started (for tests and logs).</summary>
    public int Sweeps { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                LookOnce();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One look at the collector's last collections: sweeps when the policy says so. True when it started one.</summary>
    public bool LookOnce()
    {
        var last = GC.GetGCMemoryInfo(GCKind.Any);
        var blocking = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        var background = GC.GetGCMemoryInfo(GCKind.Background);
        var full = blocking.Index >= background.Index ? blocking : background;
        var oldAfterLast = last.GenerationInfo.Length > 2 ? last.GenerationInfo[2].SizeAfterBytes : 0;
        var oldAfterFull = full.GenerationInfo.Length > 2 ? full.GenerationInfo[2].SizeAfterBytes : 0;
        if (!sweep.Look(last.Index, oldAfterLast, full.Index, oldAfterFull))
        {
            return false;
        }

        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false, compacting: false);
        Sweeps++;
        logger.LogDebug(
            "The old generation grew {GrownMegabytes} MB since the last full collection: started a background collection ({Sweeps} so far)",
            (oldAfterLast - oldAfterFull) / 1_000_000, Sweeps);
        return true;
    }
}
