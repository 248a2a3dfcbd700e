namespace Pipeline.Contracts.Messages;

/// <summary>A new paper, or a new version or content of a known one, was stored by ingest.</summary>
/// <param name="ContentHash">Hash of the title and abstract; embed caches vectors by it.</param>
/// <param name="IsUpdate">True when the paper was known before with other content.</param>
/// <param name="IngestedAt">When ingest stored this content of the paper (each new content gets a new time: rank orders a paper's records by it).</param>
public sealed record PaperIngested(PaperSummary Paper, string ContentHash, bool IsUpdate, DateTimeOffset IngestedAt)
{
    /// <summary>
    /// When ingest first stored the paper, whatever came after; null from a sender older than this
    /// field. A paper without a publication time is dated by it (docs/ranking.md).
    /// </summary>
    public DateTimeOffset? FirstIngestedAt { get; init; }
}
