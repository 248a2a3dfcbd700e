namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>Says in words a person reads why a paper matched, for <c>RankedPaper.reason</c>.</summary>
public static class RelevanceReason
{
    private const int MaxQuoted = 60;
    private const int MaxWords = 4;

    /// <summary>
    /// For example "matches your interest 'diffusion models': 'diffusion' in the title, 'denoising'
    /// in the abstract; similar in meaning (0.62)", or "similar in meaning to your search 'protein
    /// folding' (0.62)" when no word of the query occurs in the paper.
    /// </summary>
    /// <param name="queryTexts">The query texts in the order they were ranked, so <see cref="RelevanceHit.BestQuery"/> indexes them.</param>
    /// <param name="what">How to call the query: "interest", "search".</param>
    public static string Explain(RelevanceHit hit, IReadOnlyList<string> queryTexts, string what = "interest")
    {
        ArgumentNullException.ThrowIfNull(hit);
        var titleTerms = SearchTerms.Of(hit.Paper.Paper.Title).Select(t => t.Term).ToHashSet(StringComparer.Ordinal);
        var abstractTerms = SearchTerms.Of(hit.Paper.Paper.Abstract).Select(t => t.Term).ToHashSet(StringComparer.Ordinal);
        return Explain(hit, queryTexts, what, terms => terms.Select(t => (titleTerms.Contains(t), abstractTerms.Contains(t))).ToArray());
    }

    /// <summary>
    /// As above, with <paramref name="places"/> saying for each query term whether the paper has it
    /// in its title and in its abstract (the lexical index knows without the abstract's text).
    /// </summary>
    public static string Explain(
        RelevanceHit hit, IReadOnlyList<string> queryTexts, string what, Func<IReadOnlyList<string>, (bool InTitle, bool InAbstract)[]> places) =>
        Explain(hit, queryTexts, _ => what, places);

    /// <summary>
    /// As above, with <paramref name="what"/> naming each query by its index ("interest" for a
    /// subscriber's interests, "example paper" for their seed papers), so a reason that quotes one
    /// query for its words and another for its meaning calls each what it is.
    /// <paramref name="similarityNote"/>, when given, goes beside the similarity ("0.62, with the
    /// papers you liked"), since a vote moved the vector it was measured from.
    /// </summary>
    public static string Explain(
        RelevanceHit hit, IReadOnlyList<string> queryTexts, Func<int, string> what, Func<IReadOnlyList<string>, (bool InTitle, bool InAbstract)[]> places,
        string? similarityNote = null)
    {
        ArgumentNullException.ThrowIfNull(hit);
        ArgumentNullException.ThrowIfNull(queryTexts);
        ArgumentNullException.ThrowIfNull(places);
        var text = hit.BestQuery >= 0 && hit.BestQuery < queryTexts.Count ? queryTexts[hit.BestQuery] : "";
        var quoted = Quote(text);
        var similarity = hit.Dense.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)
            + (string.IsNullOrEmpty(similarityNote) ? "" : ", " + similarityNote);
        // The cosine shown is of the query it belongs to: when the words of one interest matched
        // and the meaning of another, both are named.
        var meaning = hit.DenseQuery >= 0 && hit.DenseQuery != hit.BestQuery && hit.DenseQuery < queryTexts.Count
            ? $"similar in meaning to your {what(hit.DenseQuery)} {Quote(queryTexts[hit.DenseQuery])} ({similarity})"
            : $"similar in meaning ({similarity})";

        var inTitle = new List<string>();
        var inAbstract = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var words = new List<SearchTerm>();
        foreach (var term in SearchTerms.Of(text))
        {
            if (seen.Add(term.Term))
            {
                words.Add(term);
            }
        }

        var found = places(words.Select(w => w.Term).ToArray());
        for (var i = 0; i < words.Count; i++)
        {
            if (found[i].InTitle)
            {
                inTitle.Add(words[i].Word);
            }
            else if (found[i].InAbstract)
            {
                inAbstract.Add(words[i].Word);
            }
        }

        if (inTitle.Count == 0 && inAbstract.Count == 0)
        {
            var closestQuery = hit.DenseQuery >= 0 && hit.DenseQuery < queryTexts.Count ? hit.DenseQuery : hit.BestQuery;
            var closest = closestQuery >= 0 && closestQuery < queryTexts.Count ? Quote(queryTexts[closestQuery]) : quoted;
            return $"similar in meaning to your {what(closestQuery)} {closest} ({similarity})";
        }

        var where = new List<string>(2);
        if (inTitle.Count > 0)
        {
            where.Add($"{Words(inTitle)} in the title");
        }

        if (inAbstract.Count > 0)
        {
            where.Add($"{Words(inAbstract)} in the abstract");
        }

        return $"matches your {what(hit.BestQuery)} {quoted}: {string.Join(", ", where)}; {meaning}";
    }

    private static string Words(List<string> words) =>
        string.Join(", ", words.Take(MaxWords).Select(w => $"'{w}'")) + (words.Count > MaxWords ? " and more" : "");

    private static string Quote(string text)
    {
        var collapsed = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return collapsed.Length <= MaxQuoted ? $"'{collapsed}'" : $"'{collapsed[..(MaxQuoted - 1)].TrimEnd()}…'";
    }
}
