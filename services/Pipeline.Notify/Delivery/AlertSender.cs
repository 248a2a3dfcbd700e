using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Storage;
using Pipeline.Notify.Templates;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Notify.Delivery;

/// <summary>What became of one instant alert.</summary>
public enum AlertOutcome
{
    /// <summary>The SMTP server took it now.</summary>
    Sent,

    /// <summary>It went out before (a redelivery, or a retry after the send): nothing was sent.</summary>
    AlreadySent,

    /// <summary>The subscriber is not active (unsubscribed, pending, bouncing): nothing was sent.</summary>
    NotActive,

    /// <summary>The SMTP server refused the address for good; the subscriber is now bouncing.</summary>
    Bounced,
}

/// <summary>
/// Emails an instant alert once per (subscriber, paper), however often it is asked: the delivery
/// ledger's claim is taken before the SMTP transaction and marked sent after the server's 250
/// reply, and the send is announced with <see cref="DigestSent"/> so rank leaves the paper out of
/// the subscriber's later digests. Used by <see cref="Consumers.PaperMatchedConsumer"/> for the
/// broker's message and by <see cref="DeferredAlertSender"/> for alerts kept through an SMTP outage.
/// Throws <see cref="SmtpUnavailableException"/> when the server is down or answers 4xx (nothing
/// went out; the claim is released) and <see cref="DeliveryInProgressException"/> when another
/// consumer holds the claim.
/// </summary>
public sealed class AlertSender(
    SubscriberStore subscribers,
    DeliveryLedger ledger,
    Subscriptions subscriptions,
    MailSender mail,
    TimeProvider clock,
    PublishDeadline publishDeadline,
    ILogger<AlertSender> logger)
{
    /// <summary>How long a claim on a send holds before another consumer may take it over.</summary>
    public static readonly TimeSpan SendLease = TimeSpan.FromMinutes(2);

    /// <summary>The ledger's key of the alert of <paramref name="match"/>: one per subscriber and paper.</summary>
    public static string DeliveryKey(PaperMatched match) => $"alert:{match.SubscriberId}:{match.Paper.Id}";

    /// <param name="announcer">Where <see cref="DigestSent"/> is published: the consume context, or the bus.</param>
    public async Task<AlertOutcome> SendAsync(PaperMatched match, IPublishEndpoint announcer, CancellationToken cancellationToken)
    {
        var subscriber = await subscribers.GetAsync(match.SubscriberId);
        if (subscriber is not { Status: SubscriptionStatus.Active })
        {
            logger.LogInformation("No alert for {Paper}: subscriber {Subscriber} is not active", match.Paper.Id, match.SubscriberId);
            return AlertOutcome.NotActive;
        }

        var deliveryKey = DeliveryKey(match);
        switch (await ledger.BeginAsync(deliveryKey, SendLease))
        {
            case DeliveryClaim.AlreadySent:
                // Sent before. Its DigestSent may never have reached the broker (a broker restart
                // between the send and that publish), so it is announced again; rank takes the
                // same DigestSent twice alike.
                var sent = await ledger.GetAsync(deliveryKey);
                await announcer.PublishWithinAsync(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], sent?.SentAt ?? clock.GetUtcNow()),
                    publishDeadline, cancellationToken);
                return AlertOutcome.AlreadySent;
            case DeliveryClaim.InProgress:
                throw new DeliveryInProgressException($"The alert {deliveryKey} is being sent by another consumer.");
        }

        // Stable per (subscriber, paper): a copy that slips through still threads as one message.
        var messageId = $"alert.{subscriber.Id}.{Uri.EscapeDataString(match.Paper.Id)}@{subscriptions.SenderDomain()}";
        var message = EmailTemplates.InstantAlert(mail.Sender, subscriber.Email, match.Paper, match.Reason, subscriptions.UnsubscribeLink(subscriber.Id), messageId);
        try
        {
            await mail.SendAsync(message, "instant-alert", cancellationToken);
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
            return AlertOutcome.Bounced;
        }
        catch
        {
            // SMTP down or 4xx: released, so the next try sends it.
            await ledger.AbandonAsync(deliveryKey);
            throw;
        }

        var now = clock.GetUtcNow();
        await ledger.CompleteAsync(deliveryKey, new DeliveryRecord(deliveryKey, subscriber.Id, "instant", [match.Paper.Id], now, messageId)
        {
            Period = "instant", Subject = message.Subject,
        });
        await announcer.PublishWithinAsync(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], now), publishDeadline, cancellationToken);
        return AlertOutcome.Sent;
    }
}

/// <summary>The alert is claimed by another consumer (possibly of a notify instance that died mid-send).</summary>
public sealed class DeliveryInProgressException(string message) : InvalidOperationException(message);
