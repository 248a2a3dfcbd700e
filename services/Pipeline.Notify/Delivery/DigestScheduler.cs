using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// Sends each confirmed daily or weekly subscriber their digest when its period starts in their
/// time zone. Every tick reads only the subscribers due by now from the schedule (a Redis sorted
/// set), sends the current period's digest through <see cref="DigestSender"/> and puts the
/// subscriber back at their next period. After downtime a subscriber who missed several periods
/// gets one digest, for the newest period (papers since their last digest), never one per missed
/// day; a period already handled is never sent again.
/// </summary>
public sealed class DigestScheduler(
    DigestSchedule schedule,
    SubscriberStore store,
    DigestSender sender,
    Subscriptions subscriptions,
    IOptions<NotifyOptions> options,
    TimeProvider clock,
    ILogger<DigestScheduler> logger,
    ServiceIdentity? identity = null) : BackgroundService
{
    private const int BatchSize = 256;
    private const int MaxBatchesPerTick = 200;
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(30);
    private readonly ConcurrentDictionary<string, int> _failures = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tick = TimeSpan.FromSeconds(Math.Max(0.05, options.Value.SchedulerTickSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunDueAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // Redis down, say: the next tick tries again; nothing due is lost, it stays in the set.
                logger.LogWarning(e, "The digest scheduler tick failed");
            }

            try
            {
                await Task.Delay(tick, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Handles every digest due now; returns how many subscribers it looked at.</summary>
    public async Task<int> RunDueAsync(CancellationToken cancellationToken)
    {
        var handled = 0;
        for (var batch = 0; batch < MaxBatchesPerTick; batch++)
        {
            var now = clock.GetUtcNow();
            var due = await schedule.DueAsync(now, BatchSize);
            if (due.Count == 0)
            {
                break;
            }

            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Value.DigestConcurrency), CancellationToken = cancellationToken },
                async (id, ct) => await HandleAsync(id, now, ct));
            handled += due.Count;
            if (due.Count < BatchSize)
            {
                break;
            }
        }

        return handled;
    }

    private async Task HandleAsync(string subscriberId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // One trace per scheduled digest (as SendDigestNow's call gives one): the subscriber's read,
        // composing (with rank's calls), the SMTP send, the ledger and DigestSent under one root,
        // which links to the papers' own traces.
        Activity.Current = null; // a root of its own, whatever the tick ran under
        using var activity = identity?.ActivitySource.StartActivity("scheduled digest", ActivityKind.Internal, parentContext: default);
        activity?.SetTag("notify.subscriber_id", subscriberId);
        var subscriber = await store.GetAsync(subscriberId);
        if (subscriber is not { Status: SubscriptionStatus.Active } || !DigestCalendar.IsDigestCadence(subscriber.Cadence))
        {
            await schedule.RemoveAsync(subscriberId);
            return;
        }

        var timing = Subscriptions.Timing(subscriber);
        var period = DigestCalendar.Current(timing, now);
        if (subscriber.LastDigestPeriod == period.Id)
        {
            await schedule.SetAsync(subscriberId, DigestCalendar.Next(timing, now).Start);
            return;
        }

        try
        {
            var outcome = await sender.SendAsync(subscriber, period, cancellationToken);
            switch (outcome.Kind)
            {
                case DigestOutcomeKind.InProgress:
                    await schedule.SetAsync(subscriberId, now + DigestSender.SendLease);
                    break;
                case DigestOutcomeKind.Bounced:
                    // MarkBouncingAsync took the subscriber off the schedule.
                    _failures.TryRemove(subscriberId, out _);
                    break;
                default:
                    _failures.TryRemove(subscriberId, out _);
                    // Re-read: preferences may have changed while the digest was composed.
                    if (await store.GetAsync(subscriberId) is { } latest)
                    {
                        await subscriptions.ScheduleAsync(latest);
                    }

                    break;
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            var failures = _failures.AddOrUpdate(subscriberId, 1, (_, n) => n + 1);
            var delay = RetryDelay(TimeSpan.FromSeconds(options.Value.DigestRetrySeconds), failures);
            logger.LogWarning("The {Period} digest of {Subscriber} failed ({Error}); trying again in {Delay}", period.Id, subscriberId, e.Message, delay);
            await schedule.SetAsync(subscriberId, now + delay);
        }
    }

    /// <summary>first, first × 2, first × 4, ... up to 30 minutes.</summary>
    public static TimeSpan RetryDelay(TimeSpan first, int failures) => Backoff.Doubling(first, MaxRetryDelay, failures);
}
