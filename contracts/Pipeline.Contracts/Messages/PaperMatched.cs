namespace Pipeline.Contracts.Messages;

/// <summary>A new paper passed an instant-alert subscriber's threshold; notify emails it once.</summary>
/// <param name="Reason">Why it matched, for a person: "matches your interest 'diffusion models' (0.62)".</param>
public sealed record PaperMatched(
    string SubscriberId,
    PaperSummary Paper,
    double Score,
    string MatchedInterest,
    string Reason,
    DateTimeOffset MatchedAt);
