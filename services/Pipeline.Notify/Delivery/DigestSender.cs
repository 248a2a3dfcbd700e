using System.Diagnostics;
using MassTransit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Storage;
using Pipeline.Notify.Templates;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Notify.Delivery;

public enum DigestOutcomeKind
{
    Sent,
    AlreadySent,
    NothingNew,
    Bounced,

    /// <summary>Another worker holds the period's claim right now.</summary>
    InProgress,
}

public sealed record DigestOutcome(DigestOutcomeKind Kind, DigestPeriod Period, DeliveryRecord? Delivery);

/// <summary>
/// Composes and sends one subscriber's digest for one period, at most once: the delivery
/// <c>digest:{subscriber}:{period}</c> is claimed before composing, the claim re-asserted right
/// before the SMTP transaction, and the delivery marked sent after the server's 250 reply. The
/// scheduler and SendDigestNow both come through here. Transient failures before the send (SMTP or
/// rank unreachable) release the claim and throw, for the caller to try again later. Once the
/// server has taken the digest, nothing releases the claim: a failure to record the send is retried
/// for <see cref="RecordPatience"/>, and after that the ledger keeps it in this process and writes
/// it once Redis answers, answering the period as sent meanwhile (<see cref="DeliveryLedger"/>).
/// </summary>
public sealed class DigestSender(
    SubscriberStore store,
    DeliveryLedger ledger,
    IPaperSource papers,
    PaperTraceStore paperTraces,
    MailSender mail,
    Subscriptions subscriptions,
    IBus bus,
    PublishDeadline publishDeadline,
    ServiceIdentity identity,
    TimeProvider clock,
    ILogger<DigestSender> logger)
{
    /// <summary>A claim outlives any real send; after a crash the period may be sent once more (SMTP's one window).</summary>
    public static readonly TimeSpan SendLease = TimeSpan.FromMinutes(5);

    /// <summary>Recent deliveries whose papers are left out, on top of what rank leaves out after DigestSent.</summary>
    private const int RecentDeliveries = 30;

    /// <summary>
    /// Deliveries whose papers the trending section leaves out on top of what rank's subscriber page
    /// leaves out (everything rank was told they were sent; a DigestSent may still be on its way, or
    /// rank may not know the subscriber and answer the shared page): about nine days of an instant
    /// subscriber's alerts and digests, and instant alerts of any age besides (their keys are asked).
    /// </summary>
    private const int TrendingHistory = 100;

    /// <summary>
    /// How far a digest's window reaches back before the last digest went out: longer than composing
    /// and sending one takes (Recommend's deadline, the SMTP transaction), and any clock difference
    /// between notify and rank. Rank counts a paper in windows from when it arrived there
    /// (docs/ranking.md, "Windows").
    /// </summary>
    public static readonly TimeSpan WindowOverlap = TimeSpan.FromMinutes(10);

    /// <summary>Trending papers asked for: the section shows <see cref="DigestComposer.TrendingCount"/> after what the digest already holds.</summary>
    private const int TrendingAsked = 20;

    /// <summary>
    /// How long a digest the SMTP server has taken waits for Redis to record it as sent (well inside
    /// <see cref="SendLease"/>, which the send renews). Tests shorten it.
    /// </summary>
    public TimeSpan RecordPatience { get; internal set; } = TimeSpan.FromMinutes(1);

    public static string DeliveryKey(string subscriberId, string periodId) => $"digest:{subscriberId}:{periodId}";

    public async Task<DigestOutcome> SendAsync(Subscriber subscriber, DigestPeriod period, CancellationToken cancellationToken)
    {
        var key = DeliveryKey(subscriber.Id, period.Id);
        var attempt = await ledger.BeginAsync(key, SendLease);
        switch (attempt.Claim)
        {
            case DeliveryClaim.AlreadySent:
                var before = await ledger.GetAsync(key);
                await MarkHandledAsync(subscriber.Id, period, before?.SentAt);
                return new DigestOutcome(DigestOutcomeKind.AlreadySent, period, before);
            case DeliveryClaim.InProgress:
                return new DigestOutcome(DigestOutcomeKind.InProgress, period, null);
        }

        var messageId = EmailTemplates.DigestMessageId(subscriber.Id, period.Id, subscriptions.SenderDomain());
        Digest? digest = null;
        try
        {
            (digest, var links) = await ComposeAsync(subscriber, period, cancellationToken);
            if (digest.IsEmpty && !subscriber.NoteWhenEmpty)
            {
                // Nothing to send and the subscriber skips such days: the period is done, the claim freed
                // (a later SendDigestNow in the same period may still find something new).
                await ledger.AbandonAsync(attempt);
                await MarkHandledAsync(subscriber.Id, period, sentAt: null);
                return new DigestOutcome(DigestOutcomeKind.NothingNew, period, null);
            }

            // Composing may have outlasted the lease (a slow rank), and another instance may have
            // taken the period since: send only while the claim is still this one, renewed for the send.
            if (!await ledger.RenewAsync(attempt, SendLease))
            {
                logger.LogWarning("The {Period} digest of {Subscriber} is no longer claimed by this send (its lease ran out while it was composed); not sent from here",
                    period.Id, subscriber.Id);
                return new DigestOutcome(DigestOutcomeKind.InProgress, period, null);
            }

            var message = EmailTemplates.Digest(mail.Sender, subscriber.Email, digest,
                subscriptions.UnsubscribeLink(subscriber.Id), subscriptions.PreferencesLink(subscriber.Id), messageId);
            // And again once a connection is ready: a wait for one (a slow server, a full pool) may outlast the lease.
            await mail.SendAsync(message, "digest", cancellationToken, links, beforeTransaction: () => ledger.RenewAsync(attempt, SendLease));
        }
        catch (SmtpSendClaimLostException)
        {
            logger.LogWarning("The {Period} digest of {Subscriber} is no longer claimed by this send (its lease ran out while it waited for an SMTP connection); not sent from here",
                period.Id, subscriber.Id);
            return new DigestOutcome(DigestOutcomeKind.InProgress, period, null);
        }
        catch (SmtpRecipientRejectedException e)
        {
            logger.LogWarning("The SMTP server refused {Subscriber} for good ({Reply}); the address is now bouncing", subscriber.Id, e.Message);
            var bounce = new DeliveryRecord(key, subscriber.Id, "digest", [], clock.GetUtcNow(), messageId)
            {
                Status = "bounced", Period = period.Id, Subject = e.Message,
            };
            await ledger.RecordBounceAsync(attempt, bounce);
            await subscriptions.MarkBouncingAsync(subscriber.Id, e.Message);
            return new DigestOutcome(DigestOutcomeKind.Bounced, period, bounce);
        }
        catch (SmtpOutcomeUnknownException e) when (digest is not null)
        {
            // The server has the whole digest and never answered: it may deliver it, so it is
            // recorded as sent below rather than sent again (at worst lost, never twice).
            logger.LogError("The {Period} digest of {Subscriber} was handed to the SMTP server, which did not answer ({Error}); it is recorded as sent and not sent again",
                period.Id, subscriber.Id, e.Message);
        }
        catch
        {
            // Nothing went out: the claim is released so the next try sends at once.
            await ledger.AbandonAsync(attempt);
            throw;
        }

        // The SMTP server has the digest. From here on the claim is never released: a repeat must
        // find "sent", or at worst this claim until its lease ends.
        return await RecordSentAsync(subscriber, period, key, digest, messageId);
    }

    private async Task<(Digest Digest, ActivityLink[] Links)> ComposeAsync(Subscriber subscriber, DigestPeriod period, CancellationToken cancellationToken)
    {
        using var compose = identity.ActivitySource.StartActivity("compose digest");
        compose?.SetTag("notify.subscriber_id", subscriber.Id);
        compose?.SetTag("notify.digest_period", period.Id);
        var history = await ledger.ListAsync(subscriber.Id, TrendingHistory);
        var sent = history.Take(RecentDeliveries).SelectMany(d => d.PaperIds).ToHashSet(StringComparer.Ordinal);
        // Since the last digest, less an overlap: a paper rank took while that digest was being
        // composed and sent is in this one (what that digest held is left out, above and by rank).
        var since = subscriber.LastDigestAt - WindowOverlap ?? period.Start - period.Length;
        var recommended = papers.RecommendAsync(subscriber, since, subscriber.MaxPapers, sent, cancellationToken);
        var trendingPage = papers.TrendingAsync(subscriber, subscriber.Cadence == "weekly", TrendingAsked, cancellationToken);
        await Task.WhenAll(recommended, trendingPage);
        var trending = await trendingPage;
        // The trending page holds papers of any age that a daily-papers site featured lately: one
        // the subscriber was sent is no news to them. Rank's page for the subscriber leaves out what
        // rank was told of; notify checks its own record too, instant alerts however long ago and
        // the papers of recent deliveries, for what rank has not heard of yet.
        var alerted = await ledger.SentAmongAsync(trending.Select(p => AlertSender.DeliveryKey(subscriber.Id, p.Id)).ToArray());
        var shownBefore = history.SelectMany(d => d.PaperIds).ToHashSet(StringComparer.Ordinal);
        shownBefore.UnionWith(trending.Where(p => alerted.Contains(AlertSender.DeliveryKey(subscriber.Id, p.Id))).Select(p => p.Id));
        var digest = DigestComposer.Compose(subscriber.Id, period, subscriber.Cadence, subscriber.Interests, subscriber.MaxPapers,
            await recommended, trending, shownBefore);
        compose?.SetTag("notify.paper_count", digest.Papers.Count);

        // A digest joins many papers' traces: it links to each instead of having one parent.
        var links = await LinksAsync(digest, cancellationToken);
        foreach (var link in links)
        {
            compose?.AddLink(link);
        }

        return (digest, links);
    }

    /// <summary>
    /// Records a digest the SMTP server has taken: marked sent (retried for <see cref="RecordPatience"/>),
    /// the subscriber's period marked handled, rank told. Answers Sent whatever of this fails, since
    /// the email went out; what could not be written is logged.
    /// </summary>
    private async Task<DigestOutcome> RecordSentAsync(Subscriber subscriber, DigestPeriod period, string key, Digest digest, string messageId)
    {
        var now = clock.GetUtcNow();
        var record = new DeliveryRecord(key, subscriber.Id, "digest", digest.PaperIds, now, messageId) { Period = period.Id, Subject = digest.Subject };
        var recorded = await ledger.CompleteWithinAsync(key, record, RecordPatience, clock, (e, attempt) =>
            logger.LogWarning("The {Period} digest of {Subscriber} is sent but not yet recorded (attempt {Attempt}: {Error}); trying again",
                period.Id, subscriber.Id, attempt, e.Message));
        if (!recorded)
        {
            logger.LogError("The {Period} digest of {Subscriber} was sent (Message-Id {MessageId}) but could not be recorded as sent within {Patience}. " +
                "This process keeps the record and writes it once Redis answers, and sends the period no more; if it stops before that, a send of the same period after the claim's lease ({Lease}) would email the subscriber a second time",
                period.Id, subscriber.Id, messageId, RecordPatience, SendLease);
        }

        try
        {
            await MarkHandledAsync(subscriber.Id, period, now);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The ledger says "sent" (or will, and this process answers so until then): a repeat
            // answers already_sent and marks the period then.
            logger.LogWarning("The {Period} digest of {Subscriber} is sent, but the subscriber's last period could not be updated ({Error})",
                period.Id, subscriber.Id, e.Message);
        }

        // Rank is told even when Redis could not record the send: the broker is all it needs, and
        // otherwise the papers could come again in a later digest.

        if (digest.PaperIds.Count > 0)
        {
            await AnnounceAsync(new DigestSent(subscriber.Id, period.Id, digest.PaperIds, now));
        }

        return new DigestOutcome(DigestOutcomeKind.Sent, period, record);
    }

    /// <summary>
    /// Tells rank which papers went out, waiting at most <see cref="PublishDeadline"/>. The digest is
    /// sent and recorded by now: a broker that cannot take the message must not undo that (failing
    /// here would free the period's claim, and a repeat would mail the subscriber a second time).
    /// Notify leaves out the papers of its recent deliveries by itself, and RepublishSubscribers
    /// tells rank of every logged delivery again.
    /// </summary>
    private async Task AnnounceAsync(DigestSent sent)
    {
        try
        {
            await bus.PublishWithinAsync(sent, publishDeadline);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "The {Period} digest of {Subscriber} is sent, but DigestSent could not be published; rank learns of its papers on RepublishSubscribers",
                sent.Period, sent.SubscriberId);
        }
    }

    private async Task<ActivityLink[]> LinksAsync(Digest digest, CancellationToken cancellationToken)
    {
        var all = digest.Papers.Concat(digest.Trending).ToArray();
        var missing = all.Where(p => p.TraceParent is null).Select(p => p.Id).ToArray();
        var known = missing.Length == 0 ? new Dictionary<string, string>() : await paperTraces.FindAsync(missing);
        return all
            .Select(p => p.TraceParent ?? known.GetValueOrDefault(p.Id))
            .Where(t => t is not null && ActivityContext.TryParse(t, null, out _))
            .Select(t => new ActivityLink(ActivityContext.Parse(t!, null)))
            .ToArray();
    }

    /// <summary>
    /// Records the period as done, changing only the digest fields of the subscriber as stored at the
    /// write (<see cref="SubscriberStore.UpdateAsync"/>): an unsubscribe, bounce or preference change
    /// saved meanwhile is kept.
    /// </summary>
    private Task MarkHandledAsync(string subscriberId, DigestPeriod period, DateTimeOffset? sentAt) =>
        store.UpdateAsync(subscriberId, current =>
            current.LastDigestPeriod == period.Id && (sentAt is null || current.LastDigestAt == sentAt)
                ? null
                : current with { LastDigestPeriod = period.Id, LastDigestAt = sentAt ?? current.LastDigestAt });
}
