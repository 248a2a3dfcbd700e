namespace Pipeline.Contracts.Messages;

/// <summary>
/// A subscriber was confirmed, changed preferences or left. Rank keeps a profile for every active one.
/// </summary>
/// <param name="Active">False when the subscriber unsubscribed or bounces: rank forgets the profile.</param>
/// <param name="Cadence">daily, weekly or instant.</param>
/// <param name="InstantThreshold">Minimum relevance (cosine) for an instant alert.</param>
public sealed record SubscriberChanged(
    string SubscriberId,
    bool Active,
    IReadOnlyList<string> Interests,
    string Cadence,
    double InstantThreshold,
    DateTimeOffset ChangedAt)
{
    /// <summary>Papers the subscriber named as examples of what they want.</summary>
    public IReadOnlyList<string> SeedPaperIds { get; init; } = [];

    /// <summary>Authors whose papers the subscriber follows.</summary>
    public IReadOnlyList<string> Authors { get; init; } = [];

    /// <summary>arXiv categories the subscriber prefers (cs.LG, q-bio.BM).</summary>
    public IReadOnlyList<string> Categories { get; init; } = [];
}
