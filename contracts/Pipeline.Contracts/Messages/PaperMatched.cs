namespace Pipeline.Contracts.Messages;

/// <summary>
/// A new paper matched an instant-alert subscriber: similar in meaning to one of their interests
/// above their threshold, holding every word of one, or by an author they follow
/// (docs/ranking.md); notify emails it once.
/// </summary>
/// <param name="Score">The cosine between the paper and <paramref name="MatchedInterest"/>.</param>
/// <param name="Reason">Why it matched, for a person: "matches your interest 'diffusion models': 'diffusion', 'models' in the title; similar in meaning (0.62)".</param>
public sealed record PaperMatched(
    string SubscriberId,
    PaperSummary Paper,
    double Score,
    string MatchedInterest,
    string Reason,
    DateTimeOffset MatchedAt);
