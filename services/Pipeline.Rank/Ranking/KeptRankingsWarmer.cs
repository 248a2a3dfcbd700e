using System.Diagnostics;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// Ranks every subscriber ahead of their next Recommend, so that call finds its ranking kept
/// (<see cref="KeptRankings"/>): after the startup load and the load of what subscribers were
/// sent, and again whenever the papers, the votes or the histories (a digest run) have changed and
/// then stayed as they are for <c>Ranking:KeptRankingsQuietSeconds</c> (2 by default; a batch of
/// new papers arrives as a burst). A subscriber whose kept ranking is still current costs a check.
/// A pass stops as soon as the papers change again: what it would rank would be out of date. Each ranking queues for a core at the <see cref="RankingGate"/> like a call's, so callers
/// are not starved. <c>Ranking:WarmKeptRankings=false</c> turns it off (rankings are then kept
/// only by the calls that make them).
/// </summary>
public sealed class KeptRankingsWarmer(
    KeptRankings kept,
    SubscriberQueries subscriberQueries,
    ProfileIndex profiles,
    Feedback feedback,
    RelevanceRanker ranker,
    SentHistoryLoader sentHistory,
    StartupGate startup,
    RankingGate gate,
    IConfiguration configuration,
    ILogger<KeptRankingsWarmer> logger) : BackgroundService
{
    /// <summary>The answer length a pass ranks for: a Recommend of up to 12 papers ranks as many (<see cref="Recommender.RankedFor"/>).</summary>
    public const int WarmedLimit = 10;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (kept.Capacity == 0 || !configuration.GetValue("Ranking:WarmKeptRankings", true))
        {
            return;
        }

        var quiet = TimeSpan.FromSeconds(configuration.GetValue("Ranking:KeptRankingsQuietSeconds", 2.0));
        await startup.WaitAsync(stoppingToken);
        try
        {
            await sentHistory.Completion.WaitAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // Histories not loaded are read on demand; a ranking kept without one is simply not used.
        }

        // A pass follows a change of the papers, a vote or a history marked sent (a digest run),
        // once none has come for the quiet period; it ranks again only the subscribers whose kept
        // ranking the change made out of date (the others cost a check each).
        long Changes() => ranker.Stamp + feedback.Version + feedback.SentChanges;
        var warmed = long.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            var stamp = Changes();
            if (stamp == warmed)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                continue;
            }

            await Task.Delay(quiet, stoppingToken);
            if (Changes() != stamp)
            {
                continue;
            }

            try
            {
                if ((await WarmAsync(stoppingToken)).Complete)
                {
                    warmed = stamp;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A pass that fails costs only speed (calls rank for themselves): it must not stop
                // rank, which a background service's exception would. The next change tries again.
                logger.LogWarning(e, "A pass keeping the subscribers' rankings failed; calls rank for themselves until the next");
                warmed = stamp;
            }
        }
    }

    /// <summary>One pass over the subscribers (at most <see cref="KeptRankings.Capacity"/>); stops early if the papers change.</summary>
    public async Task<WarmPass> WarmAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var stamp = ranker.Stamp;
        var missesBefore = kept.Misses;
        var subscribers = 0;
        foreach (var profile in profiles.All.Take(kept.Capacity))
        {
            if (ranker.Stamp != stamp)
            {
                logger.LogInformation(
                    "Stopped keeping rankings after {Subscribers} subscribers: the papers changed", subscribers);
                return new WarmPass(subscribers, kept.Misses - missesBefore, Complete: false);
            }

            var id = profile.SubscriberId;
            if (subscriberQueries.Of(id) is not { Queries.Count: > 0 } inputs)
            {
                continue;
            }

            var excluded = SubscriberQueries.Excluded([], inputs);
            var sent = feedback.SentTo(id);
            await gate.RunAsync(() => kept.Rank(id, inputs.Queries, Recommender.RankedFor(WarmedLimit), sent, excluded), cancellationToken);
            subscribers++;
        }

        var ranked = kept.Misses - missesBefore;
        logger.LogInformation(
            "Kept the rankings of {Subscribers} subscribers ({Ranked} ranked now) in {Milliseconds:F0} ms",
            subscribers, ranked, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return new WarmPass(subscribers, ranked, Complete: true);
    }
}

/// <summary>What a pass of <see cref="KeptRankingsWarmer"/> did: subscribers it went through, how many it ranked (the others were kept already), and whether it reached the end.</summary>
public sealed record WarmPass(int Subscribers, long Ranked, bool Complete);
