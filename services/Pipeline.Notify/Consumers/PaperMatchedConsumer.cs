using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Consumers;

/// <summary>
/// Emails an instant alert once per (subscriber, paper), however often the message is delivered.
/// </summary>
public sealed class PaperMatchedConsumer(
    SubscriberStore subscribers,
    DeliveryLedger ledger,
    Subscriptions subscriptions,
    MailSender mail,
    TimeProvider clock,
    ILogger<PaperMatchedConsumer> logger) : IConsumer<PaperMatched>
{
    /// <summary>How long a claim on a send holds before another consumer may take it over.</summary>
    public static readonly TimeSpan SendLease = TimeSpan.FromMinutes(2);

    public async Task Consume(ConsumeContext<PaperMatched> context)
    {
        var match = context.Message;
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
                return;
            case DeliveryClaim.InProgress:
                // Retried by the endpoint's retry policy; by then the other send has finished.
                throw new InvalidOperationException($"The alert {deliveryKey} is being sent by another consumer.");
        }

        // Stable per (subscriber, paper): a copy that slips through still threads as one message.
        var messageId = $"alert.{subscriber.Id}.{Uri.EscapeDataString(match.Paper.Id)}@{subscriptions.SenderDomain()}";
        var message = EmailTemplates.InstantAlert(mail.Sender, subscriber.Email, match.Paper, match.Reason, subscriptions.UnsubscribeLink(subscriber.Id), messageId);
        try
        {
            await mail.SendAsync(message, "instant-alert", context.CancellationToken);
        }
        catch
        {
            await ledger.AbandonAsync(deliveryKey);
            throw;
        }

        var now = clock.GetUtcNow();
        await ledger.CompleteAsync(deliveryKey, new DeliveryRecord(deliveryKey, subscriber.Id, "instant", [match.Paper.Id], now, messageId));
        await context.Publish(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], now));
    }
}
