using System.Diagnostics;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Storage;

/// <summary>Rebuilds the in-memory indexes from rank's Redis when the service starts.</summary>
public sealed class IndexLoader(RankStore store, PaperIndex papers, RelevanceRanker relevance, ProfileIndex profiles, ILogger<IndexLoader> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        await foreach (var (paper, vector) in store.LoadPapersAsync().WithCancellation(cancellationToken))
        {
            papers.Upsert(paper, vector);
            relevance.Add(paper);
        }

        await foreach (var profile in store.LoadProfilesAsync().WithCancellation(cancellationToken))
        {
            profiles.Upsert(profile);
        }

        logger.LogInformation("Loaded {Papers} papers and {Profiles} profiles from Redis in {Elapsed} ms", papers.Count, profiles.Count, watch.ElapsedMilliseconds);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
