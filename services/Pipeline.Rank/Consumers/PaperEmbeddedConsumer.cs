using System.Diagnostics;
using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Rank.Consumers;

/// <summary>
/// Indexes an embedded paper and raises an instant alert for every subscriber it matches. Safe to
/// run twice: the paper is upserted, and an alert already raised is not raised again. An older
/// record of a paper than rank holds (a lower version, or the same version ingested earlier) is
/// ignored.
/// </summary>
public sealed class PaperEmbeddedConsumer(
    RankStore store, FeedbackStore feedback, Feedback opinions, SentHistoryLoader sentHistory, PaperIndex index, RelevanceRanker relevance, InstantMatcher matcher, IConfiguration configuration, PublishDeadline publishDeadline,
    StartupGate startup, TimeProvider clock, OutageRetry outages, ILogger<PaperEmbeddedConsumer> logger) : IConsumer<PaperEmbedded>
{
    public async Task Consume(ConsumeContext<PaperEmbedded> context)
    {
        // What a person searches the trace by.
        Activity.Current?.SetTag("paper.id", context.Message.Paper.Id);
        // Waits out an outage of rank's Redis or the broker (BusRetry) instead of parking the paper in
        // the error queue; every step below is safe to run again. Not before the indexes and the
        // instant profiles are loaded (a match needs them all): that wait counts as held too.
        await outages.RunAsync(context, async () =>
        {
            await startup.WaitAsync(context.CancellationToken);
            await IndexAndMatchAsync(context);
        }, $"PaperEmbedded {context.Message.Paper?.Id}");
    }

    private async Task IndexAndMatchAsync(ConsumeContext<PaperEmbedded> context)
    {
        var message = context.Message;
        // Checked before anything is stored: a paper saved with a vector of another length would
        // stop rank's next start, which loads every stored vector into the index.
        if (message.Vector is not { Length: PaperIndex.Dimensions })
        {
            throw new ArgumentException(
                $"PaperEmbedded for {message.Paper?.Id} has a vector of {message.Vector?.Length ?? 0} values; rank indexes {PaperIndex.Dimensions}. Nothing was stored.");
        }

        // An event that does not say when ingest first stored the paper (from an ingest older than
        // that field) keeps the time held, as rank's Redis does. A paper new to rank arrives now
        // (windows count it from then if its own date is a little older: IndexedPaper.WindowAt).
        var held = index.Find(message.Paper.Id);
        var paper = new IndexedPaper(message.Paper, message.IngestedAt)
        {
            FirstIngestedAt = message.FirstIngestedAt ?? held?.FirstIngestedAt,
            ArrivedAt = held is null ? clock.GetUtcNow() : held.ArrivedAt,
        };
        // An older record than the one held (IndexedPaper.IsOlderThan: a redelivered or retried
        // earlier version) changes nothing, in Redis or in memory, and raises no alert: the newer
        // record was matched when it came. Two versions consumed at once may be saved in one order
        // and indexed in the other; both refuse the older, so both end with the newer.
        if (!await store.SavePaperAsync(paper, message.Vector))
        {
            return;
        }

        if (Activity.Current?.Id is { } traceParent)
        {
            await store.SaveTraceParentAsync(message.Paper.Id, traceParent);
        }

        if (!index.Upsert(paper, message.Vector))
        {
            return;
        }

        relevance.Add(paper);

        // Alerts are for news: not for a paper brought in late (an import of old papers, a new
        // version or new upvotes of one that arrived long ago), which would use up the day's alerts.
        if (!paper.IsNewsAt(clock.GetUtcNow()))
        {
            return;
        }

        foreach (var match in matcher.Match(message.Vector, message.Paper))
        {
            var subscriberId = match.Profile.SubscriberId;
            // Right after a start, the subscriber's history may not be loaded yet: read it now. One
            // history that cannot be read (not an outage) does not cost the other subscribers their
            // alerts: this one is judged by what rank marked as matched.
            try
            {
                await sentHistory.EnsureLoadedAsync(subscriberId, context.CancellationToken);
            }
            catch (Exception e) when (!BusRetry.IsOutage(e) && e is not OperationCanceledException)
            {
                logger.LogWarning("The sent history of {Subscriber} could not be read ({Error}); the alert for {Paper} is judged by what rank marked as matched",
                    subscriberId, e.Message, message.Paper.Id);
            }
            // Nor for one the subscriber was already sent (a digest asked for, an alert before
            // rank's Redis was lost) or voted on: they have seen it.
            if (opinions.WasSent(subscriberId, message.Paper.Id) || opinions.OpinionOf(subscriberId, paper.Ordinal) != 0
                || await store.WasMatchedAsync(subscriberId, message.Paper.Id))
            {
                continue;
            }

            // At most K alerts per subscriber per day: past that, no alert (the paper stays in their Recommend).
            if (!await feedback.TryTakeAlertAsync(subscriberId, message.Paper.Id, configuration.GetValue("Ranking:MaxInstantAlertsPerDay", 10), DateTimeOffset.UtcNow))
            {
                continue;
            }

            // Published before it is marked: a crash in between raises the alert again, and notify
            // sends each (subscriber, paper) alert once. The retry counts it against the day it
            // was first counted, even after midnight (FeedbackStore.TryTakeAlertAsync).
            await context.PublishWithinAsync(new PaperMatched(subscriberId, message.Paper, match.Score, match.Interest, match.Reason, DateTimeOffset.UtcNow),
                publishDeadline, context.CancellationToken);
            await store.MarkMatchedAsync(subscriberId, message.Paper.Id);
        }
    }
}
