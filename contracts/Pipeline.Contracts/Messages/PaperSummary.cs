namespace Pipeline.Contracts.Messages;

/// <summary>
/// The fields of a paper that every stage after ingest needs, carried inside the events so the hot
/// path needs no extra round trip.
/// </summary>
public sealed record PaperSummary(
    string Id,
    int Version,
    string Title,
    string Abstract,
    IReadOnlyList<string> Authors,
    IReadOnlyList<string> Categories,
    DateTimeOffset? PublishedAt,
    string Url,
    string Source,
    int Upvotes);
