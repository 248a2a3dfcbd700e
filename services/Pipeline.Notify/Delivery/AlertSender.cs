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
/// ledger's claim is taken before the SMTP transaction, re-asserted right before it, and marked sent
/// after the server's 250 reply, and the send is announced with <see cref="DigestSent"/> so rank
/// leaves the paper out of the subscriber's later digests. Used by
/// <see cref="Consumers.PaperMatchedConsumer"/> for the broker's message and by
/// <see cref="DeferredAlertSender"/> for alerts kept through an SMTP outage. Throws
/// <see cref="SmtpUnavailableException"/> when the server is down or answers 4xx (nothing went out;
/// the claim is released) and <see cref="DeliveryInProgressException"/> when another consumer holds
/// the claim. Once the server has taken the alert the claim is never released: recording it is
/// retried for <see cref="RecordPatience"/>, then the ledger keeps it in this process and writes it
/// once Redis answers, answering the alert as sent meanwhile (<see cref="DeliveryLedger"/>).
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

    /// <summary>How long an alert the SMTP server has taken waits for Redis to record it as sent (well inside <see cref="SendLease"/>). Tests shorten it.</summary>
    public TimeSpan RecordPatience { get; internal set; } = TimeSpan.FromSeconds(30);

    /// <summary>The ledger's key of the alert of <paramref name="match"/>: one per subscriber and paper.</summary>
    public static string DeliveryKey(PaperMatched match) => DeliveryKey(match.SubscriberId, match.Paper.Id);

    /// <summary>The delivery key of subscriber <paramref name="subscriberId"/>'s instant alert for paper <paramref name="paperId"/>.</summary>
    public static string DeliveryKey(string subscriberId, string paperId) => $"alert:{subscriberId}:{paperId}";

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
        var attempt = await ledger.BeginAsync(deliveryKey, SendLease);
        switch (attempt.Claim)
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
        var message = EmailTemplates.InstantAlert(mail.Sender, subscriber.Email, match.Paper, match.Reason, subscriptions.UnsubscribeLink(subscriber.Id), subscriptions.PreferencesLink(subscriber.Id), messageId);
        try
        {
            // Only while the claim is still this one (a consumer held up past its lease must not send
            // beside the one that took the alert over), renewed for the send.
            if (!await ledger.RenewAsync(attempt, SendLease))
            {
                throw new DeliveryInProgressException($"The alert {deliveryKey} was taken over by another consumer.");
            }

            // And again once a connection is ready: a wait for one (a slow server, a full pool) may outlast the lease.
            await mail.SendAsync(message, "instant-alert", cancellationToken, beforeTransaction: () => ledger.RenewAsync(attempt, SendLease));
        }
        catch (SmtpSendClaimLostException)
        {
            throw new DeliveryInProgressException($"The alert {deliveryKey} was taken over by another consumer while this one waited for an SMTP connection.");
        }
        catch (SmtpRecipientRejectedException e)
        {
            // A permanent refusal of the address: retrying cannot help, and no more mail goes to it.
            logger.LogWarning("The SMTP server refused {Subscriber} for good ({Reply}); the address is now bouncing", subscriber.Id, e.Message);
            await ledger.RecordBounceAsync(attempt, new DeliveryRecord(deliveryKey, subscriber.Id, "instant", [], clock.GetUtcNow(), messageId)
            {
                Status = "bounced", Period = "instant", Subject = e.Message,
            });
            await subscriptions.MarkBouncingAsync(subscriber.Id, e.Message);
            return AlertOutcome.Bounced;
        }
        catch (SmtpOutcomeUnknownException e)
        {
            // The server has the whole alert and never answered: it may deliver it, so it is
            // recorded as sent below rather than sent again (at worst lost, never twice).
            logger.LogError("The alert {Delivery} was handed to the SMTP server, which did not answer ({Error}); it is recorded as sent and not sent again",
                deliveryKey, e.Message);
        }
        catch
        {
            // SMTP down or 4xx, nothing went out: released (if still this claim), so the next try sends it.
            await ledger.AbandonAsync(attempt);
            throw;
        }

        // The SMTP server has the alert: from here on the claim is never released.
        var now = clock.GetUtcNow();
        var recorded = await ledger.CompleteWithinAsync(deliveryKey, new DeliveryRecord(deliveryKey, subscriber.Id, "instant", [match.Paper.Id], now, messageId)
        {
            Period = "instant", Subject = message.Subject,
        }, RecordPatience, clock, (e, n) =>
            logger.LogWarning("The alert {Delivery} is sent but not yet recorded (attempt {Attempt}: {Error}); trying again", deliveryKey, n, e.Message));
        if (!recorded)
        {
            // Answered as sent, so the message is acknowledged and no redelivery comes to try again.
            logger.LogError("The alert {Delivery} was sent (Message-Id {MessageId}) but could not be recorded as sent within {Patience}. " +
                "This process keeps the record and writes it once Redis answers, and sends the alert no more; if it stops before that, a send of the same alert after the claim's lease ({Lease}) would email the subscriber a second time",
                deliveryKey, messageId, RecordPatience, SendLease);
            // Rank is still told (the broker is all that needs), but the message is acknowledged
            // whatever the publish does: no redelivery may come through here to try again.
            try
            {
                // Not the consumer's token: a stop while this publishes must not fail the message,
                // whose redelivery, after a restart that lost the kept record, would send again.
                await announcer.PublishWithinAsync(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], now), publishDeadline, CancellationToken.None);
            }
            catch (Exception e)
            {
                logger.LogWarning("The alert {Delivery} is sent, but DigestSent could not be published ({Error}); rank learns of it on RepublishSubscribers",
                    deliveryKey, e.Message);
            }

            return AlertOutcome.Sent;
        }

        await announcer.PublishWithinAsync(new DigestSent(subscriber.Id, "instant", [match.Paper.Id], now), publishDeadline, cancellationToken);
        return AlertOutcome.Sent;
    }
}

/// <summary>The alert is claimed by another consumer (possibly of a notify instance that died mid-send).</summary>
public sealed class DeliveryInProgressException(string message) : InvalidOperationException(message);
