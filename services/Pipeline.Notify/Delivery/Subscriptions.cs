using MassTransit;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Storage;
using Pipeline.Notify.Templates;
using Pipeline.ServiceDefaults.Messaging;

namespace Pipeline.Notify.Delivery;

/// <summary>A request that cannot be honoured, with a message for the caller.</summary>
public sealed class SubscriptionException(string message, bool notFound = false, bool rateLimited = false, bool notActive = false, bool unavailable = false) : Exception(message)
{
    public bool NotFound { get; } = notFound;

    /// <summary>
    /// Asking again shortly should work: the change is saved but could not be passed on in time (the
    /// broker did not confirm it), or a confirmation email could not be sent just now.
    /// </summary>
    public bool Unavailable { get; } = unavailable;

    public bool RateLimited { get; } = rateLimited;

    /// <summary>The subscriber exists but is not in a state for this (pending, unsubscribed, bouncing).</summary>
    public bool NotActive { get; } = notActive;
}

public sealed class NotifyOptions
{
    /// <summary>Where the links in emails point: notify's HTTP port as the subscriber reaches it.</summary>
    public string PublicBaseUrl { get; set; } = "http://127.0.0.1:5204";

    /// <summary>A second confirmation email to one address waits at least this long.</summary>
    public int ConfirmationResendSeconds { get; set; } = 60;

    public double DefaultInstantThreshold { get; set; } = 0.5;

    public int ConfirmationLinkDays { get; set; } = 7;

    /// <summary>The preferences link in each digest works this long; unsubscribe links never expire.</summary>
    public int PreferencesLinkDays { get; set; } = 60;

    /// <summary>How often the digest scheduler looks for due digests.</summary>
    public double SchedulerTickSeconds { get; set; } = 30;

    /// <summary>Digests composed and sent at once by one instance.</summary>
    public int DigestConcurrency { get; set; } = 8;

    /// <summary>
    /// How long a confirmation, unsubscription or preferences change waits for the broker to
    /// confirm its SubscriberChanged before the page answers 503 (the change is saved; opening the
    /// link again publishes it again).
    /// </summary>
    public double PublishTimeoutSeconds { get; set; } = 10;

    /// <summary>A digest that failed (SMTP or rank down) is tried again after this, doubling up to 30 minutes.</summary>
    public double DigestRetrySeconds { get; set; } = 30;

    /// <summary>
    /// An instant alert the SMTP server could not take is tried again after this; also how often
    /// notify looks for such alerts while nothing fails.
    /// </summary>
    public double AlertRetrySeconds { get; set; } = 5;

    /// <summary>While SMTP keeps failing, the attempts at kept alerts back off, doubling up to this.</summary>
    public double AlertRetryMaxSeconds { get; set; } = 60;

    /// <summary>
    /// A kept alert whose message the SMTP server refuses for good (a 5xx to its data) this many
    /// times (at least 2, the first when the alert was kept) is given up: logged as "refused" in the
    /// subscriber's deliveries and no longer tried.
    /// </summary>
    public int AlertRefusalsBeforeGivingUp { get; set; } = 5;

    /// <summary><see cref="AlertRetrySeconds"/>, at least 50 ms.</summary>
    public TimeSpan AlertRetryInterval => TimeSpan.FromSeconds(Math.Max(0.05, AlertRetrySeconds));

    /// <summary><see cref="AlertRetryMaxSeconds"/>, never below <see cref="AlertRetryInterval"/>.</summary>
    public TimeSpan AlertRetryMaxInterval => TimeSpan.FromSeconds(Math.Max(AlertRetryMaxSeconds, AlertRetryInterval.TotalSeconds));

    public int SubscribePerAddressLimit { get; set; } = 5;
    public int SubscribePerAddressWindowSeconds { get; set; } = 3600;
    public int SubscribePerClientLimit { get; set; } = 30;
    public int SubscribePerClientWindowSeconds { get; set; } = 600;

    /// <summary>
    /// All Subscribe calls one instance takes per window, whoever makes them: bounds the
    /// confirmation emails a crowd of clients can send through the operator's SMTP server.
    /// </summary>
    public int SubscribeGlobalLimit { get; set; } = 1000;
    public int SubscribeGlobalWindowSeconds { get; set; } = 3600;
}

/// <summary>
/// Double opt-in subscriptions: Subscribe stores a pending subscriber and emails a signed
/// confirmation link; Confirm activates and tells rank; Unsubscribe takes the link from any email.
/// </summary>
public sealed class Subscriptions(
    SubscriberStore store,
    SubscriptionTokens tokens,
    MailSender mail,
    IBus bus,
    DigestSchedule schedule,
    SubscribeRateLimits rateLimits,
    IOptions<NotifyOptions> options,
    TimeProvider clock)
{
    public async Task<Subscriber> SubscribeAsync(string? email, PreferencesRequest request, string client, CancellationToken cancellationToken)
    {
        var (address, addressError) = EmailAddressRules.Check(email);
        if (address is null)
        {
            throw new SubscriptionException(addressError!);
        }

        if (rateLimits.TryAcquire(address, client) is { } limited)
        {
            throw new SubscriptionException(limited, rateLimited: true);
        }

        var (preferences, error) = SubscriptionRules.Validate(request, options.Value.DefaultInstantThreshold);
        if (preferences is null)
        {
            throw new SubscriptionException(error!);
        }

        var now = clock.GetUtcNow();
        // Twice at most: a call that loses the race to create the address's subscriber updates the
        // one that won.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var existing = await store.FindByEmailAsync(address);
            if (existing is { Status: SubscriptionStatus.Active })
            {
                // An open call must not change a confirmed subscription: that takes the preferences
                // link, which the address's owner is sent (once per resend window).
                return await SendAlreadySubscribedAsync(existing, cancellationToken);
            }

            if (existing is { Status: SubscriptionStatus.Bouncing })
            {
                // Nor a bouncing one (its preferences, votes and history are its owner's): its owner
                // is sent a confirmation link, and confirming resumes the subscription as it was,
                // the click showing the mailbox takes mail again. A send that fails is answered as
                // for a new address (the same statuses and words), so the answer tells nothing.
                return await SendConfirmationAsync(existing, cancellationToken);
            }

            if (existing is null)
            {
                var created = Apply(new Subscriber(Guid.NewGuid().ToString("N"), address, preferences.Interests, preferences.Cadence, preferences.TimeZone,
                    preferences.Hour, preferences.MaxPapers, preferences.InstantThreshold, SubscriptionStatus.Pending, now, now, null), preferences, now)
                    with { RequestNonce = NewRequestNonce() };
                if (await store.CreateAsync(created))
                {
                    return await SendConfirmationAsync(created, cancellationToken);
                }

                continue;
            }

            // Pending or unsubscribed: the new preferences replace the old, and a new confirmation is
            // due. Applied to the record as stored at the write, so a confirmation that came between
            // is kept (and then this call changes nothing).
            // A request that changes what would be confirmed gets a new nonce: links sent for the
            // earlier one stop confirming (a stranger's Subscribe cannot turn the owner's click on
            // their own link into consent to the stranger's preferences). The same request again
            // (a double submit) keeps it, and the first email's link still works.
            var subscriber = await store.UpdateAsync(existing.Id, current => current.Status is SubscriptionStatus.Active or SubscriptionStatus.Bouncing
                ? null
                : Apply(current, preferences, now) with
                {
                    Status = SubscriptionStatus.Pending,
                    // (null included: a record from before nonces keeps its links working too)
                    RequestNonce = current.Status is SubscriptionStatus.Pending && SamePreferences(current, Apply(current, preferences, now))
                        ? current.RequestNonce
                        : NewRequestNonce(),
                });
            if (subscriber is null)
            {
                continue;
            }

            return subscriber.Status is SubscriptionStatus.Active or SubscriptionStatus.Bouncing
                ? subscriber
                : await SendConfirmationAsync(subscriber, cancellationToken);
        }

        throw new SubscriptionException("The subscription for this address changed just now; try again.", unavailable: true);
    }

    /// <summary>
    /// Emails the confirmation link, at most once per <see cref="NotifyOptions.ConfirmationResendSeconds"/>:
    /// of concurrent calls, the one that takes the subscriber's gate in Redis sends, the others send
    /// nothing. A send that fails gives the gate back (the next call sends) and answers with a
    /// <see cref="SubscriptionException"/>: unavailable when the SMTP server cannot take it now, a
    /// plain refusal when it refused the address for good. <c>ConfirmationSentAt</c> is written only
    /// after the server took the email.
    /// </summary>
    private async Task<Subscriber> SendConfirmationAsync(Subscriber subscriber, CancellationToken cancellationToken)
    {
        if (await TakeSendSlotAsync(subscriber) is not { } taken)
        {
            // Sent (or being sent) within the window: repeated calls do not flood the inbox.
            return subscriber;
        }

        var gate = new GateToken(taken);

        var now = clock.GetUtcNow();
        var token = tokens.Issue(TokenPurpose.Confirm, subscriber.Id, TimeSpan.FromDays(options.Value.ConfirmationLinkDays), subscriber.RequestNonce);
        var message = EmailTemplates.Confirmation(mail.Sender, subscriber.Email, subscriber.Cadence, subscriber.Interests.Count + subscriber.SeedPaperIds.Count + subscriber.Authors.Count, Link("confirm", token),
            $"confirm.{subscriber.Id}.{now.ToUnixTimeSeconds()}@{SenderDomain()}");
        try
        {
            // The gate again once a connection is ready: a wait for one (digests using every
            // connection) may outlast it, and another call may have taken it and sent meanwhile.
            await mail.SendAsync(message, "confirmation", cancellationToken, beforeTransaction: () => KeepGateAsync(subscriber.Id, gate));
        }
        catch (SmtpSendClaimLostException)
        {
            // Another call holds the gate now and sends (or sent) the email: nothing more from here.
            return subscriber;
        }
        catch (SmtpOutcomeUnknownException)
        {
            // The server has the whole email and did not answer: counted as sent (the gate stays,
            // so a retry within the window sends no second one).
        }
        catch (Exception e)
        {
            await ReleaseGateAsync(subscriber.Id, gate.Value);
            throw SendFailed(e);
        }

        await RestartGateAsync(subscriber.Id, gate.Value);
        return await store.UpdateAsync(subscriber.Id, current => current with { ConfirmationSentAt = now }) ?? subscriber;
    }

    /// <summary>
    /// What an open Subscribe answers when its email could not be sent: the same for a new, pending,
    /// bouncing or active address, so the status does not tell which it was.
    /// </summary>
    private static Exception SendFailed(Exception e) => e switch
    {
        SmtpUnavailableException => new SubscriptionException(
            "Your subscription is saved, but the confirmation email could not be sent just now; please try again in a minute.", unavailable: true),
        SmtpRecipientRejectedException => new SubscriptionException(
            $"The mail server refused to deliver to this address ({e.Message}); check the address and subscribe again."),
        SmtpMessageRejectedException => new SubscriptionException(
            "Your subscription is saved, but the mail server refused the confirmation email; please try again later.", unavailable: true),
        SmtpSendClaimCheckFailedException => new SubscriptionException(
            "Your subscription is saved, but the confirmation email could not be sent just now; please try again in a minute.", unavailable: true),
        _ => e,
    };

    /// <summary>
    /// Tells an active subscriber that someone asked to subscribe their address again, with the
    /// preferences and unsubscribe links, at most once per resend window (the confirmation gate).
    /// A send that fails is answered as a confirmation's would be (<see cref="SendFailed"/>): the
    /// caller learns nothing of the subscription either way.
    /// </summary>
    private async Task<Subscriber> SendAlreadySubscribedAsync(Subscriber subscriber, CancellationToken cancellationToken)
    {
        if (await TakeSendSlotAsync(subscriber) is not { } taken)
        {
            return subscriber;
        }

        var gate = new GateToken(taken);

        var message = EmailTemplates.AlreadySubscribed(mail.Sender, subscriber.Email, subscriber.Interests, PreferencesLink(subscriber.Id), UnsubscribeLink(subscriber.Id),
            $"again.{subscriber.Id}.{clock.GetUtcNow().ToUnixTimeSeconds()}@{SenderDomain()}");
        try
        {
            await mail.SendAsync(message, "already-subscribed", cancellationToken, beforeTransaction: () => KeepGateAsync(subscriber.Id, gate));
        }
        catch (SmtpSendClaimLostException)
        {
            return subscriber;
        }
        catch (SmtpOutcomeUnknownException)
        {
            // Counted as sent, as a confirmation would be.
        }
        catch (Exception e) when (e is SmtpUnavailableException or SmtpRecipientRejectedException or SmtpMessageRejectedException or SmtpSendClaimCheckFailedException)
        {
            await ReleaseGateAsync(subscriber.Id, gate.Value);
            throw SendFailed(e);
        }

        await RestartGateAsync(subscriber.Id, gate.Value);
        return subscriber;
    }

    /// <summary>
    /// The right to send an open Subscribe's email (a confirmation or "already subscribed"): the
    /// subscriber's gate for the resend window (null: one was sent or is being sent within it), and
    /// one email of the budget all callers share, refused as RESOURCE_EXHAUSTED when it is spent
    /// (the same for both kinds of email, so the caller cannot tell them apart).
    /// </summary>
    private async Task<string?> TakeSendSlotAsync(Subscriber subscriber)
    {
        var resendAfter = TimeSpan.FromSeconds(Math.Max(1, options.Value.ConfirmationResendSeconds));
        // Held for the send's longest time as well: a slow server must not let a repeated call send
        // a second email while the first is still being handed over (RestartGateAsync then counts
        // the window from the send's end).
        if (await store.TakeConfirmationGateAsync(subscriber.Id, resendAfter + mail.LongestSend) is not { } gate)
        {
            return null;
        }

        if (rateLimits.TryTakeEmail() is { } busy)
        {
            await ReleaseGateAsync(subscriber.Id, gate);
            throw new SubscriptionException(busy, rateLimited: true);
        }

        return gate;
    }

    /// <summary>The gate a send holds; it changes when the gate had lapsed and was taken again.</summary>
    private sealed class GateToken(string value)
    {
        public string Value { get; set; } = value;
    }

    /// <summary>
    /// Holds the gate for a send about to start (the window and the send's longest time from now).
    /// False when another call holds it now (it sends); a gate that simply lapsed while this send
    /// waited for a connection is taken again, so the email still goes out.
    /// </summary>
    private async Task<bool> KeepGateAsync(string subscriberId, GateToken gate)
    {
        var hold = TimeSpan.FromSeconds(Math.Max(1, options.Value.ConfirmationResendSeconds)) + mail.LongestSend;
        if (await store.RestartConfirmationGateAsync(subscriberId, gate.Value, hold))
        {
            return true;
        }

        if (await store.TakeConfirmationGateAsync(subscriberId, hold) is { } again)
        {
            gate.Value = again;
            return true;
        }

        return false;
    }

    /// <summary>Counts the resend window from now, the email sent; if Redis cannot be reached, the gate lapses a little later instead.</summary>
    private async Task RestartGateAsync(string subscriberId, string gate)
    {
        try
        {
            await store.RestartConfirmationGateAsync(subscriberId, gate, TimeSpan.FromSeconds(Math.Max(1, options.Value.ConfirmationResendSeconds)));
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
        }
    }

    /// <summary>Gives the confirmation gate back; if Redis cannot be reached, the gate lapses with its window instead.</summary>
    private async Task ReleaseGateAsync(string subscriberId, string gate)
    {
        try
        {
            await store.ReleaseConfirmationGateAsync(subscriberId, gate);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
        }
    }

    public async Task<Subscriber> ConfirmAsync(string? token)
    {
        var check = tokens.Verify(token, TokenPurpose.Confirm);
        var id = check.Valid ? check.SubscriberId! : throw new SubscriptionException(check.Error!);
        var now = clock.GetUtcNow();
        var activated = false;
        var subscriber = await store.UpdateAsync(id, current =>
        {
            if (current.Status is SubscriptionStatus.Pending && !ConfirmsRequest(current, check))
            {
                throw StaleConfirmation();
            }

            activated = current.Status is SubscriptionStatus.Pending or SubscriptionStatus.Bouncing;
            return current.Status switch
            {
                SubscriptionStatus.Unsubscribed => throw new SubscriptionException("This subscription was cancelled; subscribe again to get a new link."),
                // The link reached the mailbox: mail goes to it again, with the preferences it had.
                SubscriptionStatus.Bouncing => current with { Status = SubscriptionStatus.Active, BounceReason = null, ChangedAt = now },
                SubscriptionStatus.Pending => current with { Status = SubscriptionStatus.Active, ChangedAt = now },
                _ => null,
            };
        }) ?? throw NoLongerExists();
        if (activated)
        {
            await ScheduleAsync(subscriber);
        }

        // Told again on a repeated confirmation: rank applies each change once (by its time).
        await PublishChangeAsync(subscriber);
        return subscriber;
    }

    public async Task<Subscriber> UnsubscribeAsync(string? token)
    {
        var id = VerifiedId(token, TokenPurpose.Unsubscribe);
        var now = clock.GetUtcNow();
        var subscriber = await store.UpdateAsync(id, current => current.Status is SubscriptionStatus.Unsubscribed
                ? null
                : current with { Status = SubscriptionStatus.Unsubscribed, ChangedAt = now })
            ?? throw NoLongerExists();

        await schedule.RemoveAsync(subscriber.Id);
        await PublishChangeAsync(subscriber);
        return subscriber;
    }

    /// <summary>
    /// Replaces the preferences of the subscriber the preferences link names (as a form does: every
    /// field). Empty interests, an unspecified cadence or an empty time zone keep the current ones.
    /// </summary>
    public Task<Subscriber> UpdatePreferencesAsync(string? token, PreferencesRequest request) => UpdatePreferencesAsync(token, _ => request);

    /// <summary>
    /// <see cref="UpdatePreferencesAsync(string?, PreferencesRequest)"/> with the request made from
    /// the record as stored at the write (the form fills the fields left empty from it, so a change
    /// made meanwhile elsewhere is not undone by a stale read).
    /// </summary>
    public async Task<Subscriber> UpdatePreferencesAsync(string? token, Func<Subscriber, PreferencesRequest> requestFor)
    {
        var id = VerifiedId(token, TokenPurpose.Preferences);
        var now = clock.GetUtcNow();
        // Worked out from the record as stored at the write: an unsubscribe or bounce that came
        // between the read and the write is kept, and then this change is refused.
        var subscriber = await store.UpdateAsync(id, current =>
        {
            if (current.Status is SubscriptionStatus.Unsubscribed or SubscriptionStatus.Bouncing)
            {
                throw new SubscriptionException("This subscription is no longer active; subscribe again.", notActive: true);
            }

            var request = requestFor(current);
            var filled = request with
            {
                Interests = request.Interests.Any(i => !string.IsNullOrWhiteSpace(i)) ? request.Interests : current.Interests,
                Cadence = string.IsNullOrEmpty(request.Cadence) ? current.Cadence : request.Cadence,
                TimeZone = string.IsNullOrWhiteSpace(request.TimeZone) ? current.TimeZone : request.TimeZone,
                // null (a form without these fields) keeps what is stored; a list, even empty, replaces it
                SeedPaperIds = request.SeedPaperIds ?? current.SeedPaperIds,
                Authors = request.Authors ?? current.Authors,
                Categories = request.Categories ?? current.Categories,
            };
            var (preferences, error) = SubscriptionRules.Validate(filled, options.Value.DefaultInstantThreshold);
            return preferences is null ? throw new SubscriptionException(error!) : Apply(current, preferences, now);
        }) ?? throw NoLongerExists();
        if (subscriber.Status is SubscriptionStatus.Active)
        {
            await ScheduleAsync(subscriber);
            await PublishChangeAsync(subscriber);
        }

        return subscriber;
    }

    /// <summary>
    /// The SMTP server refused the address for good: no more mail to it, and rank drops the profile.
    /// The address stays taken, so a new Subscribe cannot revive it by accident.
    /// </summary>
    public async Task<Subscriber?> MarkBouncingAsync(string subscriberId, string reason)
    {
        var now = clock.GetUtcNow();
        var subscriber = await store.UpdateAsync(subscriberId, current =>
            current with { Status = SubscriptionStatus.Bouncing, BounceReason = DigestComposer.Excerpt(reason, 300), ChangedAt = now });
        if (subscriber is null)
        {
            return null;
        }

        await schedule.RemoveAsync(subscriber.Id);
        await PublishChangeAsync(subscriber);
        return subscriber;
    }

    /// <summary>Puts an active digest subscriber's next period on the schedule; takes anyone else off it.</summary>
    public Task ScheduleAsync(Subscriber subscriber) =>
        subscriber.Status is SubscriptionStatus.Active && DigestCalendar.IsDigestCadence(subscriber.Cadence)
            ? schedule.SetAsync(subscriber.Id, DigestCalendar.Next(Timing(subscriber), clock.GetUtcNow()).Start)
            : schedule.RemoveAsync(subscriber.Id);

    public static DigestTiming Timing(Subscriber subscriber) =>
        new(subscriber.Cadence, subscriber.TimeZone, subscriber.Hour, subscriber.Weekday);

    public Uri PreferencesLink(string subscriberId) =>
        Link("preferences", tokens.Issue(TokenPurpose.Preferences, subscriberId, TimeSpan.FromDays(options.Value.PreferencesLinkDays)));

    /// <summary>The subscriber a preferences link names, for the preferences page.</summary>
    public Task<Subscriber> ForPreferencesAsync(string? token) => FromToken(token, TokenPurpose.Preferences);

    /// <summary>
    /// The subscription a confirmation link would confirm, for the page that asks first; refused as
    /// <see cref="ConfirmAsync"/> would refuse it (bad, expired or stale link, cancelled subscription).
    /// </summary>
    public async Task<Subscriber> ForConfirmationAsync(string? token)
    {
        var check = tokens.Verify(token, TokenPurpose.Confirm);
        var subscriber = await store.GetAsync(check.Valid ? check.SubscriberId! : throw new SubscriptionException(check.Error!)) ?? throw NoLongerExists();
        return subscriber.Status switch
        {
            SubscriptionStatus.Unsubscribed => throw new SubscriptionException("This subscription was cancelled; subscribe again to get a new link."),
            SubscriptionStatus.Pending when !ConfirmsRequest(subscriber, check) => throw StaleConfirmation(),
            _ => subscriber,
        };
    }

    /// <summary>A pending subscription is confirmed only by a link sent for its current request (a record from before nonces takes any).</summary>
    private static bool ConfirmsRequest(Subscriber pending, TokenCheck check) =>
        pending.RequestNonce is null || string.Equals(pending.RequestNonce, check.Version, StringComparison.Ordinal);

    private static SubscriptionException StaleConfirmation() => new(
        "This link was sent for an earlier request: the subscription's preferences were changed since. " +
        "Subscribe again (in a minute, if you just did) for a link to what you ask for now, and check that its page lists it before you confirm.");

    private static string NewRequestNonce() => Guid.NewGuid().ToString("N");

    /// <summary>Whether two records ask for the same thing (what <see cref="Apply"/> writes, but the time).</summary>
    private static bool SamePreferences(Subscriber a, Subscriber b) =>
        a.Interests.SequenceEqual(b.Interests, StringComparer.Ordinal) && a.Cadence == b.Cadence && a.TimeZone == b.TimeZone && a.Hour == b.Hour
        && a.MaxPapers == b.MaxPapers && a.InstantThreshold.Equals(b.InstantThreshold) && a.Weekday == b.Weekday && a.NoteWhenEmpty == b.NoteWhenEmpty
        && a.SeedPaperIds.SequenceEqual(b.SeedPaperIds, StringComparer.Ordinal) && a.Authors.SequenceEqual(b.Authors, StringComparer.Ordinal)
        && a.Categories.SequenceEqual(b.Categories, StringComparer.Ordinal);

    private static Subscriber Apply(Subscriber subscriber, Preferences p, DateTimeOffset now) => subscriber with
    {
        Interests = p.Interests, Cadence = p.Cadence, TimeZone = p.TimeZone, Hour = p.Hour, MaxPapers = p.MaxPapers,
        InstantThreshold = p.InstantThreshold, Weekday = p.Weekday, NoteWhenEmpty = p.NoteWhenEmpty,
        SeedPaperIds = p.SeedPaperIds ?? [], Authors = p.Authors ?? [], Categories = p.Categories ?? [], ChangedAt = now,
    };

    public Uri UnsubscribeLink(string subscriberId) => Link("unsubscribe", tokens.Issue(TokenPurpose.Unsubscribe, subscriberId, lifetime: null));

    public string SenderDomain() => mail.Sender.Address[(mail.Sender.Address.IndexOf('@') + 1)..];

    private async Task<Subscriber> FromToken(string? token, TokenPurpose purpose) =>
        await store.GetAsync(VerifiedId(token, purpose)) ?? throw NoLongerExists();

    /// <summary>The subscriber a link's token names, when it is valid for <paramref name="purpose"/>.</summary>
    private string VerifiedId(string? token, TokenPurpose purpose)
    {
        var check = tokens.Verify(token, purpose);
        return check.Valid ? check.SubscriberId! : throw new SubscriptionException(check.Error!);
    }

    private static SubscriptionException NoLongerExists() => new("This subscription no longer exists.", notFound: true);

    /// <summary>
    /// Publishes every subscriber's current state (SubscriberChanged) and, for active subscribers,
    /// every logged delivery (DigestSent), for a rank that lost its Redis. Both consumers upsert,
    /// so a repeat changes nothing.
    /// </summary>
    public async Task<(int Subscribers, int Deliveries)> RepublishAllAsync(DeliveryLedger ledger, CancellationToken cancellationToken)
    {
        var (subscribers, deliveries) = (0, 0);
        await foreach (var subscriber in store.ListAllAsync(cancellationToken))
        {
            await PublishChangeAsync(subscriber);
            subscribers++;
            if (subscriber.Status != SubscriptionStatus.Active)
            {
                continue;
            }

            foreach (var delivery in await ledger.ListAsync(subscriber.Id, 500))
            {
                if (delivery.Status == "sent" && delivery.PaperIds.Count > 0)
                {
                    await PublishOrRefuseAsync(new DigestSent(subscriber.Id, delivery.Period, delivery.PaperIds, delivery.SentAt), cancellationToken);
                    deliveries++;
                }
            }
        }

        return (subscribers, deliveries);
    }

    /// <summary>
    /// Tells rank (SubscriberChanged), waiting at most <see cref="NotifyOptions.PublishTimeoutSeconds"/>
    /// for the broker's confirmation. A person is waiting for the page: after a broker restart a
    /// publish can wait on a channel that never confirms (RabbitMQ.Client issue #1930), and an
    /// answer that says "saved, open the link again" beats a page that never loads. The change is
    /// stored before this; every path that publishes it publishes it again when repeated.
    /// </summary>
    private async Task PublishChangeAsync(Subscriber subscriber)
    {
        var message = new SubscriberChanged(subscriber.Id, subscriber.Status == SubscriptionStatus.Active, subscriber.Interests,
            subscriber.Cadence, subscriber.InstantThreshold, subscriber.ChangedAt)
        {
            SeedPaperIds = subscriber.SeedPaperIds,
            Authors = subscriber.Authors,
            Categories = subscriber.Categories,
        };
        await PublishOrRefuseAsync(message);
    }

    private async Task PublishOrRefuseAsync<T>(T message, CancellationToken cancellationToken = default)
        where T : class
    {
        try
        {
            await bus.PublishWithinAsync(message, new PublishDeadline(TimeSpan.FromSeconds(Math.Max(0.1, options.Value.PublishTimeoutSeconds))), cancellationToken);
        }
        catch (PublishNotConfirmedException)
        {
            throw new SubscriptionException(
                "Your change is saved, but it could not be passed on just now. Please open the link again in a minute.", unavailable: true);
        }
    }

    private Uri Link(string page, string token) =>
        new($"{options.Value.PublicBaseUrl.TrimEnd('/')}/{page}?token={Uri.EscapeDataString(token)}");
}
