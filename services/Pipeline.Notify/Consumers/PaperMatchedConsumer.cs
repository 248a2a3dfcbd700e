using System.Diagnostics;
using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.Notify.Templates;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Notify.Consumers;

/// <summary>
/// Emails an instant alert once per (subscriber, paper), however often the message is delivered.
/// </summary>
public sealed class PaperMatchedConsumer(
    SubscriberStore subscribers,
    DeliveryLedger ledger,
    PaperTraceStore paperTraces,
    Subscriptions subscriptions,
    MailSender mail,
    TimeProvider clock,
    PublishDeadline publishDeadline,
    ILogger<PaperMatchedConsumer> logger) : IConsumer<PaperMatched>
{
    /// <summary>How long a claim on a send holds before another consumer may take it over.</summary>
    public static readonly TimeSpan SendLease = TimeSpan.FromMinutes(2);

    public async Task Consume(ConsumeContext<PaperMatched> context)
    {
        var match = context.Message;
        if (Activity.Current is { } current)
        {
            // The paper's trace, for the digests that will show it later.
            await paperTraces.RememberAsync(match.Paper.Id, current.Id!);
        }

        var subscriber = await subscribers.GetAsync(match.SubscriberId);
        if (subscriber is not { Status: SubscriptionStatus.Active })
        {
            logger.LogInformation("No alert for {Paper}: subscriber {Subscriber} is not active", match.Paper.Id, match.SubscriberId);
            return;
        }

        var deliveryKey = $"alert:{subscriber.Id}:{match.Paper.Id}";
        switch (await ledger.BeginAsync(deliveryKey, SendLease))
        {
            case DeliveryClaim.AlreadySent:
                // Sent before. Its DigestSent may never have reached the broker: a broker restart
                // between the send and that publish fails the message, which comes back here. Rank
                // takes the same DigestSent twice alike, so it is announced again.
                var sent = await ledger.GetAsync(deliveryKey);
                await context.PublishWithinAsync(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], sent?.SentAt ?? clock.GetUtcNow()),
                    publishDeadline, context.CancellationToken);
                return;
            case DeliveryClaim.InProgress:
                // Retried (PaperMatchedConsumerDefinition) for longer than a dead instance's heartbeat
                // lives: by then the other send has finished, or its instance is gone and this takes over.
                throw new DeliveryInProgressException($"The alert {deliveryKey} is being sent by another consumer.");
        }

        // Stable per (subscriber, paper): a copy that slips through still threads as one message.
        var messageId = $"alert.{subscriber.Id}.{Uri.EscapeDataString(match.Paper.Id)}@{subscriptions.SenderDomain()}";
        var message = EmailTemplates.InstantAlert(mail.Sender, subscriber.Email, match.Paper, match.Reason, subscriptions.UnsubscribeLink(subscriber.Id), messageId);
        try
        {
            await mail.SendAsync(message, "instant-alert", context.CancellationToken);
        }
        catch (SmtpRecipientRejectedException e)
        {
            // A permanent refusal of the address: retrying cannot help, and no more mail goes to it.
            logger.LogWarning("The SMTP server refused {Subscriber} for good ({Reply}); the address is now bouncing", subscriber.Id, e.Message);
            await ledger.RecordBounceAsync(deliveryKey, new DeliveryRecord(deliveryKey, subscriber.Id, "instant", [], clock.GetUtcNow(), messageId)
            {
                Status = "bounced", Period = "instant", Subject = e.Message,
            });
            await subscriptions.MarkBouncingAsync(subscriber.Id, e.Message);
            return;
        }
        catch
        {
            // SMTP down or 4xx: released, so the retry (PaperMatchedConsumerDefinition) sends it.
            await ledger.AbandonAsync(deliveryKey);
            throw;
        }

        var now = clock.GetUtcNow();
        await ledger.CompleteAsync(deliveryKey, new DeliveryRecord(deliveryKey, subscriber.Id, "instant", [match.Paper.Id], now, messageId)
        {
            Period = "instant", Subject = message.Subject,
        });
        await context.PublishWithinAsync(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], now), publishDeadline, context.CancellationToken);
    }
}

/// <summary>The alert is claimed by another consumer (possibly of a notify instance that died mid-send).</summary>
public sealed class DeliveryInProgressException(string message) : InvalidOperationException(message);

/// <summary>
/// An SMTP outage, and an alert claimed by another consumer, are retried in place for about a
/// minute before the bus's own retries (and then the error queue) take over: an alert waits out a
/// short outage, or the heartbeat of a notify instance that died while sending it, and still goes
/// out once.
/// </summary>
public sealed class PaperMatchedConsumerDefinition : ConsumerDefinition<PaperMatchedConsumer>
{
    public static readonly TimeSpan[] SmtpRetryIntervals =
        [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30)];

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<PaperMatchedConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        consumerConfigurator.UseMessageRetry(r =>
        {
            r.Intervals(SmtpRetryIntervals);
            r.Handle<SmtpUnavailableException>();
            r.Handle<DeliveryInProgressException>();
        });
    }
}
