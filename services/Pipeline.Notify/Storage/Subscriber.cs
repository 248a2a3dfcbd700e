namespace Pipeline.Notify.Storage;

public enum SubscriptionStatus
{
    Pending,
    Active,
    Unsubscribed,
    Bouncing,
}

/// <summary>A subscriber as notify keeps them. Cadence is daily, weekly or instant.</summary>
public sealed record Subscriber(
    string Id,
    string Email,
    IReadOnlyList<string> Interests,
    string Cadence,
    string TimeZone,
    int Hour,
    int MaxPapers,
    double InstantThreshold,
    SubscriptionStatus Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset ChangedAt,
    DateTimeOffset? ConfirmationSentAt);

/// <summary>One email that went out.</summary>
public sealed record DeliveryRecord(string Id, string SubscriberId, string Kind, IReadOnlyList<string> PaperIds, DateTimeOffset SentAt, string MessageId);
