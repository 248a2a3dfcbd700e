using System.Collections.Concurrent;
using System.Diagnostics;
using Pipeline.Rank.Ranking;
using StackExchange.Redis;

namespace Pipeline.Rank.Storage;

/// <summary>
/// Loads what each subscriber was sent (<c>rank:sent:{subscriber}</c>) into <see cref="Feedback"/>:
/// everyone's in the background after start, and any one subscriber's at once when a Recommend
/// needs it before the background load has reached them. Rank is ready without waiting for
/// the histories: two months of daily digests for 10,000 subscribers are 6 million papers and
/// took 6 s to load, and that grows with every digest (docs/benchmarks.md, "What subscribers were
/// sent, after a restart").
/// </summary>
/// <remarks>
/// Each subscriber's history is read once, by whichever comes first. A digest marked sent while
/// the load runs is added to the same set, and a set only grows, so the order does not matter.
/// </remarks>
public sealed class SentHistoryLoader(FeedbackStore store, Feedback feedback, ILogger<SentHistoryLoader> logger)
{
    private readonly ConcurrentDictionary<string, Lazy<Task>> _loading = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _complete;
    private int _onDemand;

    /// <summary>True once every subscriber's history is in memory (not after a load that could not read some: those are read on demand).</summary>
    public bool IsComplete => _complete;

    /// <summary>Completes when the background load has read every history it could.</summary>
    public Task Completion => _done.Task;

    /// <summary>Subscribers whose history a Recommend asked for before the background load reached them.</summary>
    public int LoadedOnDemand => Volatile.Read(ref _onDemand);

    /// <summary>Returns once <paramref name="subscriberId"/>'s history is in memory (at once when all are).</summary>
    public ValueTask EnsureLoadedAsync(string subscriberId, CancellationToken cancellationToken) =>
        _complete ? ValueTask.CompletedTask : new ValueTask(LoadOnceAsync(subscriberId, onDemand: true).WaitAsync(cancellationToken));

    /// <summary>Loads every subscriber's history, <see cref="FeedbackStore.LoadBatch"/> reads in flight at a time.</summary>
    public async Task LoadAllAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var allocatedBefore = GC.GetTotalAllocatedBytes();
        try
        {
            var subscribers = await store.SentSubscribersAsync();
            var failed = 0;
            Exception? firstFailure = null;
            foreach (var batch in subscribers.Chunk(FeedbackStore.LoadBatch))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var outOfReach = false;
                await Task.WhenAll(batch.Select(async subscriber =>
                {
                    try
                    {
                        await LoadOnceAsync(subscriber, onDemand: false);
                    }
                    catch (Exception e)
                    {
                        // One unreadable history does not stop the others; it is read again on demand.
                        Interlocked.Increment(ref failed);
                        Interlocked.CompareExchange(ref firstFailure, e, null);
                        outOfReach |= e is RedisConnectionException or RedisTimeoutException;
                    }
                }));
                if (outOfReach)
                {
                    // Redis itself is out of reach, not one key amiss: stop here (every read would wait out its timeout).
                    throw new InvalidOperationException("Rank's Redis is out of reach", firstFailure);
                }
            }

            if (failed > 0)
            {
                logger.LogWarning(firstFailure, "{Failed} of {Subscribers} subscribers' histories could not be read; each is read when a Recommend first needs it", failed, subscribers.Length);
            }
            else
            {
                _complete = true;
                _loading.Clear();
            }

            _done.TrySetResult();
            var elapsed = Stopwatch.GetElapsedTime(started);
            // Each batch's replies (a buffer per paper id) live until the batch is done, long
            // enough to be promoted, and stay resident until a full collection: after two months
            // of digests rank held 407-412 MB after its first bursts of calls instead of 387. As
            // after the index load, compact once now (one pause, about 0.1-0.3 s, at startup).
            var allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
            var paused = TimeSpan.Zero;
            if (allocated > CompactAfterBytes)
            {
                var pausedBefore = GC.GetTotalPauseDuration();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                paused = GC.GetTotalPauseDuration() - pausedBefore;
            }

            logger.LogInformation(
                "Loaded what {Subscribers} subscribers were sent ({Papers} papers) from Redis in {Milliseconds} ms, after start; {OnDemand} of them first for a Recommend; {AllocatedMegabytes} MB allocated, compacted in {CompactMs} ms",
                subscribers.Length, feedback.SentPaperCount, (long)elapsed.TotalMilliseconds, LoadedOnDemand, allocated / 1_000_000, (long)paused.TotalMilliseconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _done.TrySetCanceled(cancellationToken);
        }
        catch (Exception e)
        {
            // Recommend still loads each subscriber's history when it first needs it.
            logger.LogError(e, "Loading what subscribers were sent failed; each history is loaded when a Recommend first needs it");
            _done.TrySetException(e);
        }
    }

    /// <summary>A load that allocated more than this is followed by a compacting collection.</summary>
    private const long CompactAfterBytes = 64L << 20;

    private async Task LoadOnceAsync(string subscriberId, bool onDemand)
    {
        var first = false;
        var load = _loading.GetOrAdd(subscriberId, id => new Lazy<Task>(() =>
        {
            first = true;
            return store.LoadSentAsync(id, feedback);
        }));
        try
        {
            await load.Value;
            if (first && onDemand)
            {
                Interlocked.Increment(ref _onDemand);
            }
        }
        catch
        {
            // Not remembered as loaded: the next caller reads it again.
            _loading.TryRemove(KeyValuePair.Create(subscriberId, load));
            throw;
        }
    }
}
