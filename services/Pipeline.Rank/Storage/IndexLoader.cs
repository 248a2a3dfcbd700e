using System.Diagnostics;
using System.Runtime;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Storage;

/// <summary>Rebuilds the in-memory indexes from rank's Redis when the service starts.</summary>
public sealed class IndexLoader(RankStore store, PaperIndex papers, RelevanceRanker relevance, ProfileIndex profiles, ILogger<IndexLoader> logger) : IHostedService
{
    /// <summary>Papers loaded between two full garbage collections during the load.</summary>
    public const int CollectEveryPapers = 10_000;

    /// <summary>Profiles added to the index at a time during the load.</summary>
    private const int ProfileChunk = 1_000;

    /// <summary>Chunks of profiles added between two full garbage collections during the load.</summary>
    private const int CollectEveryProfileChunks = 2;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var (pausedBefore, gen0Before, gen2Before, allocatedBefore) = (GC.GetTotalPauseDuration(), GC.CollectionCount(0), GC.CollectionCount(2), GC.GetTotalAllocatedBytes());
        papers.EnsureCapacity((int)await store.CountPapersAsync());
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken };
        var sinceCollection = 0;
        await foreach (var batch in store.LoadPaperBatchesAsync(cancellationToken))
        {
            // Each batch's parsed papers (JSON, and abstracts and vectors as Redis's bytes) outlive
            // a gen0 collection while they are indexed, so they reach gen2, where nothing collects
            // them until a full collection: left alone, the process peaked at 515-540 MB to hold
            // 350. A full collection every 10,000 papers keeps the peak near the end size (360-400
            // MB at 100,000) and costs nothing measurable in load time (docs/benchmarks.md). Done
            // in the background it paused the load less but let the peak reach 460-550 MB.
            sinceCollection += batch.Count;
            if (sinceCollection >= CollectEveryPapers)
            {
                sinceCollection = 0;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
            }

            foreach (var paper in batch)
            {
                papers.Upsert(paper.Paper, paper.Vector);
            }

            // The abstracts for the lexical index, whose tokenising is most of the load's work: on
            // every core, while the next batch is already being read and parsed; from the bytes
            // Redis sent (no string made of each abstract).
            Parallel.ForEach(batch, parallel, paper => paper.AddTo(relevance));
        }

        var loadedPapers = watch.ElapsedMilliseconds;
        // Profiles in chunks: the index keeps its own half-precision copy of each vector
        // (HalfVectors), so only a chunk's fp32 vectors are alive at a time, and none are left for
        // the collection below (a list of them all, a field of this async method's state, would
        // keep 46 MB of them through it at 10,000 subscribers).
        //
        // As with the papers, what a chunk read (each profile's JSON and fp32 vectors) outlives
        // gen0 while it is indexed and piles up in gen2: at 10,000 subscribers the resident size
        // rose by up to 65 MB in this loop, to the load's peak, until the compaction below. A full
        // collection every two chunks frees it for the next ones: peak 360-379 MB against 365-400,
        // for 0.1-0.2 s more (docs/benchmarks.md, "Sweeping sooner").
        var loaded = new List<SubscriberProfile>(ProfileChunk);
        var chunks = 0;
        await foreach (var profile in store.LoadProfilesAsync(cancellationToken))
        {
            loaded.Add(profile);
            if (loaded.Count == ProfileChunk)
            {
                profiles.UpsertMany(loaded);
                loaded.Clear();
                if (++chunks % CollectEveryProfileChunks == 0)
                {
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
                }
            }
        }

        profiles.UpsertMany(loaded);
        loaded.Clear();
        logger.LogInformation(
            "Loaded {Papers} papers and {Profiles} profiles from Redis in {Elapsed} ms (papers {PaperElapsed} ms, vectors {Precision}, {VectorMegabytes} MB, sign-code prefilter from {PrefilterFrom} papers; {AllocatedMegabytes} MB allocated, GC paused {PausedMs} ms in {Collections} collections, {FullCollections} full)",
            papers.Count, profiles.Count, watch.ElapsedMilliseconds, loadedPapers, papers.Precision, papers.VectorBytes / 1_000_000, papers.PrefilterFrom,
            (GC.GetTotalAllocatedBytes() - allocatedBefore) / 1_000_000, (long)(GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds,
            GC.CollectionCount(0) - gen0Before, GC.CollectionCount(2) - gen2Before);

        // The load leaves a few hundred MB of garbage (JSON, one float[] a paper, abstracts the
        // vector index dropped) and posting lists with room to grow (trimmed first); collect and
        // compact it now and hand the pages back to the OS, so the resident size is what the
        // indexes hold and not the load's high-water mark.
        relevance.TrimExcess();
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
