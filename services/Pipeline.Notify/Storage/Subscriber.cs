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
    DateTimeOffset? ConfirmationSentAt)
{
    /// <summary>Weekly digests: ISO weekday, 1 = Monday ... 7 = Sunday.</summary>
    public int Weekday { get; init; } = 1;

    /// <summary>A period with nothing new sends a short note (true) or nothing (false).</summary>
    public bool NoteWhenEmpty { get; init; }

    public IReadOnlyList<string> SeedPaperIds { get; init; } = [];

    public IReadOnlyList<string> Authors { get; init; } = [];

    public IReadOnlyList<string> Categories { get; init; } = [];

    /// <summary>The newest digest period handled (sent, or skipped as empty): never handled twice.</summary>
    public string? LastDigestPeriod { get; init; }

    /// <summary>When the newest digest went out: the next one asks rank for papers since then.</summary>
    public DateTimeOffset? LastDigestAt { get; init; }

    /// <summary>The SMTP server's permanent refusal that made this address bouncing.</summary>
    public string? BounceReason { get; init; }

    /// <summary>
    /// Names the request a pending subscription holds: a new random value whenever an open
    /// Subscribe writes preferences that differ from those stored (or takes an unsubscribed address
    /// back). The confirmation link is signed with it, so a link confirms only the request it was
    /// sent for, not preferences somebody else put in its place since. Null for records written
    /// before it existed, whose links are taken as before.
    /// </summary>
    public string? RequestNonce { get; init; }
}

/// <summary>One email that went out (Status "sent") or was refused for good ("bounced").</summary>
public sealed record DeliveryRecord(string Id, string SubscriberId, string Kind, IReadOnlyList<string> PaperIds, DateTimeOffset SentAt, string MessageId)
{
    public string Status { get; init; } = "sent";

    /// <summary>The digest period, or "instant".</summary>
    public string Period { get; init; } = "";

    public string? Subject { get; init; }
}
