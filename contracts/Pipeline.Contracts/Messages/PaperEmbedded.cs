namespace Pipeline.Contracts.Messages;

/// <summary>A paper's title and abstract were embedded; <paramref name="Vector"/> is L2-normalised.</summary>
public sealed record PaperEmbedded(
    PaperSummary Paper,
    string ContentHash,
    bool IsUpdate,
    string ModelId,
    float[] Vector,
    DateTimeOffset IngestedAt);
