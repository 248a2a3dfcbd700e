namespace Pipeline.Contracts.Messages;

/// <summary>A paper's title and abstract were embedded; <paramref name="Vector"/> is L2-normalised.</summary>
public sealed record PaperEmbedded(
    PaperSummary Paper,
    string ContentHash,
    bool IsUpdate,
    string ModelId,
    float[] Vector,
    DateTimeOffset IngestedAt)
{
    /// <summary>When ingest first stored the paper (<see cref="PaperIngested.FirstIngestedAt"/>); null when the event that brought it did not say.</summary>
    public DateTimeOffset? FirstIngestedAt { get; init; }
}
