using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// When to hand memory back after a burst: once the process has allocated <see cref="AfterBytes"/>
/// in busy seconds since the last trim (a burst happened) and has then been quiet for
/// <see cref="QuietFor"/> (less than <see cref="QuietBytesPerSecond"/> allocated a second). The
/// garbage collector keeps what a burst made it commit (its allocation budget, free space in the
/// oldest generation) for the next burst; a service that serves a burst of calls and then idles
/// for hours holds it all that time. The same idea as the JVM's periodic collection of an idle G1
/// heap (JEP 346). Decides only; <see cref="IdleMemoryTrimmer"/> collects.
/// </summary>
public sealed class IdleMemoryTrim(TimeSpan quietFor, long afterBytes, long quietBytesPerSecond = IdleMemoryTrim.DefaultQuietBytesPerSecond)
{
    /// <summary>What a quiet second may allocate: health probes and timers, not calls.</summary>
    public const long DefaultQuietBytesPerSecond = 1 << 20;

    private long _burstBytes; // allocated in busy seconds since the last trim
    private long _lastAllocated = -1;
    private DateTimeOffset _lastLook;
    private DateTimeOffset? _quietSince;

    public TimeSpan QuietFor { get; } = quietFor;

    public long AfterBytes { get; } = afterBytes;

    public long QuietBytesPerSecond { get; } = quietBytesPerSecond;

    /// <summary>
    /// Looks at the process's total allocated bytes at <paramref name="now"/>; true when it is
    /// time to trim. Only busy stretches count towards <see cref="AfterBytes"/>, so a process that
    /// allocates a little all the time is never trimmed. Call <see cref="Trimmed"/> after trimming.
    /// </summary>
    public bool Look(long allocatedBytes, DateTimeOffset now)
    {
        if (_lastAllocated < 0)
        {
            (_lastAllocated, _lastLook, _quietSince) = (allocatedBytes, now, now);
            return false;
        }

        var allocated = allocatedBytes - _lastAllocated;
        var seconds = Math.Max((now - _lastLook).TotalSeconds, 1e-3);
        (_lastAllocated, _lastLook) = (allocatedBytes, now);
        if (allocated / seconds > QuietBytesPerSecond)
        {
            _burstBytes += allocated;
            _quietSince = null;
            return false;
        }

        _quietSince ??= now;
        return now - _quietSince >= QuietFor && _burstBytes >= AfterBytes;
    }

    /// <summary>Records a trim: the next needs another burst of <see cref="AfterBytes"/>, then quiet again.</summary>
    public void Trimmed(long allocatedBytes)
    {
        _burstBytes = 0;
        _lastAllocated = allocatedBytes;
    }
}

/// <summary>
/// Looks once a second whether <see cref="IdleMemoryTrim"/> says to trim, and then runs one
/// blocking, compacting collection that decommits the free space
/// (<see cref="GCCollectionMode.Aggressive"/>). It pauses the process (rank's 230 MB heap: 0.1 to
/// 0.4 s), which is why it waits for quiet. <c>Memory:TrimWhenIdleSeconds</c> (5; 0 turns it off)
/// and <c>Memory:TrimAfterAllocatedMegabytes</c> (64) set it.
/// </summary>
public sealed class IdleMemoryTrimmer(IdleMemoryTrim trim, ILogger<IdleMemoryTrimmer> logger, TimeProvider time) : BackgroundService
{
    public static IdleMemoryTrim? From(IConfiguration configuration)
    {
        var seconds = configuration.GetValue("Memory:TrimWhenIdleSeconds", 5.0);
        var megabytes = configuration.GetValue("Memory:TrimAfterAllocatedMegabytes", 64L);
        return seconds > 0 ? new IdleMemoryTrim(TimeSpan.FromSeconds(seconds), megabytes * 1_000_000) : null;
    }

    /// <summary>Trims done (for tests and logs).</summary>
    public int Trims { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                LookOnce(GC.GetTotalAllocatedBytes(), time.GetUtcNow());
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One look: trims when <see cref="IdleMemoryTrim.Look"/> says so. True when it trimmed.</summary>
    public bool LookOnce(long allocatedBytes, DateTimeOffset now)
    {
        if (!trim.Look(allocatedBytes, now))
        {
            return false;
        }

        Trim();
        return true;
    }

    private int _oldCollectionsAtTrim;

    private void Trim()
    {
        var oldCollections = GC.CollectionCount(GC.MaxGeneration) - _oldCollectionsAtTrim;
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var pausedBefore = GC.GetTotalPauseDuration();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var paused = GC.GetTotalPauseDuration() - pausedBefore;
        var after = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        trim.Trimmed(GC.GetTotalAllocatedBytes());
        _oldCollectionsAtTrim = GC.CollectionCount(GC.MaxGeneration);
        Trims++;
        logger.LogInformation(
            "Quiet for {QuietSeconds} s after a burst: compacted the heap in {PauseMs} ms; committed {BeforeMegabytes} -> {AfterMegabytes} MB, {HeapMegabytes} MB in use; {OldCollections} full collections since the last trim",
            trim.QuietFor.TotalSeconds, (long)paused.TotalMilliseconds, before / 1_000_000, after.TotalCommittedBytes / 1_000_000, after.HeapSizeBytes / 1_000_000, oldCollections);
    }
}
