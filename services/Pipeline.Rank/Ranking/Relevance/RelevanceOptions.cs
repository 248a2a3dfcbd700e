namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>Which signals rank papers: both fused (the product), or one alone (for evaluation and comparison).</summary>
public enum RelevanceMode
{
    Hybrid,
    Lexical,
    Dense,
}

/// <summary>How the lexical and dense rankings are fused in <see cref="RelevanceMode.Hybrid"/>.</summary>
public enum RelevanceFusion
{
    /// <summary>Reciprocal rank fusion (Cormack, Clarke and Büttcher 2009): the sum of 1/(k + rank) over both lists.</summary>
    ReciprocalRank,

    /// <summary>
    /// A convex mix of the min-max normalised cosine and the normalised BM25 of each candidate
    /// (Bruch, Gai and Ingber 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").
    /// </summary>
    ScoreMix,
}

/// <summary>
/// The parameters of relevance ranking. The defaults are the textbook values (BM25 k1 1.2, b 0.75,
/// RRF k 60), not values fitted to a query set; see docs/ranking.md.
/// </summary>
public sealed record RelevanceOptions
{
    /// <summary>BM25 term-frequency saturation.</summary>
    public double K1 { get; init; } = 1.2;

    /// <summary>BM25 length normalisation of the title field.</summary>
    public double TitleB { get; init; } = 0.75;

    /// <summary>BM25 length normalisation of the abstract field.</summary>
    public double AbstractB { get; init; } = 0.75;

    /// <summary>BM25F weight of a title occurrence relative to an abstract one: a title word counts twice.</summary>
    public double TitleWeight { get; init; } = 2.0;

    /// <summary>How many papers each side contributes to fusion (at least the requested limit).</summary>
    public int CandidatePool { get; init; } = 100;

    public RelevanceFusion Fusion { get; init; } = RelevanceFusion.ReciprocalRank;

    /// <summary>RRF's k: larger flattens the advantage of the top ranks.</summary>
    public int RrfK { get; init; } = 60;

    /// <summary>Weight of the dense part in <see cref="RelevanceFusion.ScoreMix"/>; the lexical part gets the rest.</summary>
    public double DenseWeight { get; init; } = 0.5;
}
