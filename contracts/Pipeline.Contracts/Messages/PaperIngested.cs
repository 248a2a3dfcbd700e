namespace Pipeline.Contracts.Messages;

/// <summary>A new paper, or a new version or content of a known one, was stored by ingest.</summary>
/// <param name="ContentHash">Hash of the title and abstract; embed caches vectors by it.</param>
/// <param name="IsUpdate">True when the paper was known before with other content.</param>
public sealed record PaperIngested(PaperSummary Paper, string ContentHash, bool IsUpdate, DateTimeOffset IngestedAt);
