namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>A query: its text (for lexical matching) and its embedding (for dense matching).</summary>
public sealed record RelevanceQuery(string Text, float[] Vector);

/// <summary>
/// A paper's relevance to a set of queries: the fused score (0 to 1, higher is better), its dense
/// and lexical parts, and which query it matched best.
/// </summary>
public sealed record RelevanceHit(IndexedPaper Paper, double Score, double Dense, double Lexical, int BestQuery);

/// <summary>
/// Ranks papers by relevance to queries. For now dense only (cosine over the
/// <see cref="PaperIndex"/>); the lexical side and fusion arrive with the relevance work.
/// </summary>
public sealed class RelevanceRanker(PaperIndex index)
{
    /// <summary>Indexes a paper's text for lexical matching (its vector lives in <see cref="PaperIndex"/>).</summary>
    public void Add(IndexedPaper paper)
    {
    }

    public IReadOnlyList<RelevanceHit> Rank(IReadOnlyList<RelevanceQuery> queries, int limit, Func<IndexedPaper, bool>? include = null) =>
        index.Top(queries.Select(q => q.Vector).ToArray(), limit, include)
            .Select(s => new RelevanceHit(s.Paper, s.Relevance, s.Relevance, 0, s.BestQuery))
            .ToArray();
}
