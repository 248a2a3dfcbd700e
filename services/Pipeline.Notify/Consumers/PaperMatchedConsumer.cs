using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Notify.Consumers;

/// <summary>
/// Emails an instant alert once per (subscriber, paper), however often the message is delivered
/// (<see cref="AlertSender"/>). When the SMTP server cannot take it (down, 4xx, no answer in
/// time, notify's login or TLS refused) or refuses this message (5xx to its data), the alert is kept in notify's Redis (<see cref="DeferredAlerts"/>) and the message is
/// acknowledged: <see cref="DeferredAlertSender"/> sends it once the server is back, however long
/// the outage lasts, and no message waits in a handler or lands in the error queue meanwhile.
/// While <see cref="SmtpOutage"/> says the server is failing, a new alert is kept without a try.
/// </summary>
public sealed class PaperMatchedConsumer(
    AlertSender alerts,
    DeferredAlerts deferred,
    PaperTraceStore paperTraces,
    SmtpOutage outage,
    IOptions<NotifyOptions> options,
    TimeProvider clock,
    ILogger<PaperMatchedConsumer> logger,
    OutageRetry outages) : IConsumer<PaperMatched>
{
    // Waits out an outage of notify's Redis (BusRetry) instead of parking the alert in the error queue.
    public Task Consume(ConsumeContext<PaperMatched> context) =>
        outages.RunAsync(context, () => SendOrKeepAsync(context), $"PaperMatched {context.Message.SubscriberId}/{context.Message.Paper.Id}");

    private async Task SendOrKeepAsync(ConsumeContext<PaperMatched> context)
    {
        var match = context.Message;
        // What a person searches the trace by (the subscriber by id: addresses stay out of traces).
        Activity.Current?.SetTag("paper.id", match.Paper.Id);
        Activity.Current?.SetTag("notify.subscriber_id", match.SubscriberId);
        if (Activity.Current is { } current)
        {
            // The paper's trace, for the digests that will show it later: a link, not worth the alert.
            try
            {
                await paperTraces.RememberAsync(match.Paper.Id, current.Id!);
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
            {
                logger.LogDebug("The trace of {Paper} was not kept for its digests: {Error}", match.Paper.Id, e.Message);
            }
        }

        if (outage.Ongoing() is { } ongoing)
        {
            // The last attempt failed and the server has taken nothing since: kept without a try,
            // which against a server that never answers would hold this handler for the SMTP timeout.
            await KeepAsync(match, 0, $"Not tried: the SMTP server has been failing since {ongoing.Since:u} ({ongoing.Error})");
            return;
        }

        try
        {
            await alerts.SendAsync(match, context, context.CancellationToken);
        }
        catch (Exception e) when (e is SmtpUnavailableException or SmtpMessageRejectedException)
        {
            await KeepAsync(match, 1, e.Message, refusals: e is SmtpMessageRejectedException ? 1 : 0);
        }
    }

    private async Task KeepAsync(PaperMatched match, int attempts, string why, int refusals = 0)
    {
        var key = AlertSender.DeliveryKey(match);
        var now = clock.GetUtcNow();
        await deferred.DeferAsync(key, new DeferredAlert(match, Activity.Current?.Id, now, attempts, why) { Refusals = refusals },
            now + options.Value.AlertRetryInterval);
        logger.LogWarning("The SMTP server cannot take the alert {Delivery} ({Error}); kept in notify's Redis until it can", key, why);
    }
}

/// <summary>
/// An alert claimed by another consumer is retried in place for 75 s, longer than a dead notify
/// instance's heartbeat lives and is then seen missing (the takeover grace): by
/// then the other send has finished, or its instance is gone and this one takes over, and the alert
/// still goes out once. (An SMTP outage is not retried here:
/// the consumer keeps the alert for <see cref="DeferredAlertSender"/>.)
/// </summary>
public sealed class PaperMatchedConsumerDefinition : ConsumerDefinition<PaperMatchedConsumer>
{
    public static readonly TimeSpan[] ClaimRetryIntervals =
        [
            TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8),
            // Every 10 s from here: a dead owner's heartbeat is seen missing soon after it lapses,
            // and the claim taken over soon after the grace.
            // 75 s in all: with the longest send and the wait to record it, within the consumer
            // watchdog's 300 s.
            TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10),
            TimeSpan.FromSeconds(10),
        ];

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<PaperMatchedConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        consumerConfigurator.UseMessageRetry(r =>
        {
            r.Intervals(ClaimRetryIntervals);
            r.Handle<DeliveryInProgressException>();
        });
    }
}
