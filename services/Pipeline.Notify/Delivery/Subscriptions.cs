using MassTransit;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Storage;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Delivery;

/// <summary>A request that cannot be honoured, with a message for the caller.</summary>
public sealed class SubscriptionException(string message, bool notFound = false) : Exception(message)
{
    public bool NotFound { get; } = notFound;
}

public sealed class NotifyOptions
{
    /// <summary>Where the links in emails point: notify's HTTP port as the subscriber reaches it.</summary>
    public string PublicBaseUrl { get; set; } = "http://127.0.0.1:5204";

    /// <summary>A second confirmation email to one address waits at least this long.</summary>
    public int ConfirmationResendSeconds { get; set; } = 60;

    public double DefaultInstantThreshold { get; set; } = 0.5;

    public int ConfirmationLinkDays { get; set; } = 7;
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
    IOptions<NotifyOptions> options,
    TimeProvider clock)
{
    public async Task<Subscriber> SubscribeAsync(string? email, PreferencesRequest request, CancellationToken cancellationToken)
    {
        var (address, addressError) = EmailAddressRules.Check(email);
        if (address is null)
        {
            throw new SubscriptionException(addressError!);
        }

        var (preferences, error) = SubscriptionRules.Validate(request, options.Value.DefaultInstantThreshold);
        if (preferences is null)
        {
            throw new SubscriptionException(error!);
        }

        var now = clock.GetUtcNow();
        var existing = await store.FindByEmailAsync(address);
        if (existing is { Status: SubscriptionStatus.Active or SubscriptionStatus.Bouncing })
        {
            // An open call must not change a confirmed subscription: that takes the preferences link.
            return existing;
        }

        Subscriber subscriber;
        if (existing is null)
        {
            subscriber = new Subscriber(Guid.NewGuid().ToString("N"), address, preferences.Interests, preferences.Cadence, preferences.TimeZone,
                preferences.Hour, preferences.MaxPapers, preferences.InstantThreshold, SubscriptionStatus.Pending, now, now, null);
            if (!await store.ClaimEmailAsync(address, subscriber.Id))
            {
                throw new SubscriptionException("A subscription for this address is being created right now; try again.");
            }
        }
        else
        {
            // Pending or unsubscribed: the new preferences replace the old, and a new confirmation is due.
            subscriber = existing with
            {
                Interests = preferences.Interests, Cadence = preferences.Cadence, TimeZone = preferences.TimeZone, Hour = preferences.Hour,
                MaxPapers = preferences.MaxPapers, InstantThreshold = preferences.InstantThreshold, Status = SubscriptionStatus.Pending, ChangedAt = now,
            };
        }

        // Repeated calls update the pending subscription without flooding the inbox.
        var resendAfter = TimeSpan.FromSeconds(options.Value.ConfirmationResendSeconds);
        var sendConfirmation = subscriber.ConfirmationSentAt is not { } sent || now - sent >= resendAfter;
        if (sendConfirmation)
        {
            subscriber = subscriber with { ConfirmationSentAt = now };
        }

        await store.SaveAsync(subscriber);
        if (sendConfirmation)
        {
            var token = tokens.Issue(TokenPurpose.Confirm, subscriber.Id, TimeSpan.FromDays(options.Value.ConfirmationLinkDays));
            var message = EmailTemplates.Confirmation(mail.Sender, subscriber.Email, subscriber.Interests, Link("confirm", token),
                $"confirm.{subscriber.Id}.{now.ToUnixTimeSeconds()}@{SenderDomain()}");
            await mail.SendAsync(message, "confirmation", cancellationToken);
        }

        return subscriber;
    }

    public async Task<Subscriber> ConfirmAsync(string? token)
    {
        var subscriber = await FromToken(token, TokenPurpose.Confirm);
        if (subscriber.Status is SubscriptionStatus.Unsubscribed)
        {
            throw new SubscriptionException("This subscription was cancelled; subscribe again to get a new link.");
        }

        if (subscriber.Status is SubscriptionStatus.Pending)
        {
            subscriber = subscriber with { Status = SubscriptionStatus.Active, ChangedAt = clock.GetUtcNow() };
            await store.SaveAsync(subscriber);
        }

        // Told again on a repeated confirmation: rank applies each change once (by its time).
        await PublishChangeAsync(subscriber);
        return subscriber;
    }

    public async Task<Subscriber> UnsubscribeAsync(string? token)
    {
        var subscriber = await FromToken(token, TokenPurpose.Unsubscribe);
        if (subscriber.Status is not SubscriptionStatus.Unsubscribed)
        {
            subscriber = subscriber with { Status = SubscriptionStatus.Unsubscribed, ChangedAt = clock.GetUtcNow() };
            await store.SaveAsync(subscriber);
        }

        await PublishChangeAsync(subscriber);
        return subscriber;
    }

    public Uri UnsubscribeLink(string subscriberId) => Link("unsubscribe", tokens.Issue(TokenPurpose.Unsubscribe, subscriberId, lifetime: null));

    public string SenderDomain() => mail.Sender.Address[(mail.Sender.Address.IndexOf('@') + 1)..];

    private async Task<Subscriber> FromToken(string? token, TokenPurpose purpose)
    {
        var check = tokens.Verify(token, purpose);
        if (!check.Valid)
        {
            throw new SubscriptionException(check.Error!);
        }

        return await store.GetAsync(check.SubscriberId!)
            ?? throw new SubscriptionException("This subscription no longer exists.", notFound: true);
    }

    private Task PublishChangeAsync(Subscriber subscriber) =>
        bus.Publish(new SubscriberChanged(subscriber.Id, subscriber.Status == SubscriptionStatus.Active, subscriber.Interests,
            subscriber.Cadence, subscriber.InstantThreshold, subscriber.ChangedAt));

    private Uri Link(string page, string token) =>
        new($"{options.Value.PublicBaseUrl.TrimEnd('/')}/{page}?token={Uri.EscapeDataString(token)}");
}
