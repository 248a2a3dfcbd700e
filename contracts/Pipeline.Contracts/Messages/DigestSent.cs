namespace Pipeline.Contracts.Messages;

/// <summary>A digest or alert went out; rank leaves these papers out of the subscriber's next lists.</summary>
/// <param name="Period">The digest period (2026-11-26 for a daily digest) or "instant".</param>
public sealed record DigestSent(string SubscriberId, string Period, IReadOnlyList<string> PaperIds, DateTimeOffset SentAt);
