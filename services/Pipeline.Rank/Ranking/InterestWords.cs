using System.Collections.Frozen;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// The words of the instant-alert interests, to find every interest a new paper contains in full:
/// each of the interest's terms (as search matches them: stemmed, stopwords dropped, a hyphenated
/// compound as its parts) occurs in the paper's title or abstract. Dense similarity misses what a
/// short interest names exactly ("metamorphic testing", "Pynguin"); this is the lexical half of
/// instant matching, as BM25 is the lexical half of search (docs/ranking.md, "Instant alerts").
/// </summary>
/// <remarks>
/// Each interest is filed under one key term, the one fewest interests share, so a paper's terms
/// reach few interests and each is then checked term by term against the paper's term set.
/// </remarks>
internal sealed class InterestWords
{
    private readonly string[][] _terms;
    private readonly FrozenDictionary<string, int[]> _rowsByKey;

    private InterestWords(string[][] terms, FrozenDictionary<string, int[]> rowsByKey)
    {
        _terms = terms;
        _rowsByKey = rowsByKey;
    }

    /// <summary>How many interests have at least one term (an interest of stopwords only has none).</summary>
    public int Count { get; private init; }

    /// <param name="interests">Interest texts by row; row i of the result is interest i.</param>
    public static InterestWords Build(IReadOnlyList<string> interests)
    {
        var terms = new string[interests.Count][];
        var shared = new Dictionary<string, int>(StringComparer.Ordinal);
        var canonical = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var row = 0; row < interests.Count; row++)
        {
            terms[row] = TermsOf(interests[row]);
            for (var i = 0; i < terms[row].Length; i++)
            {
                // One string per distinct term: interests share most of their words.
                var term = canonical.TryGetValue(terms[row][i], out var known) ? known : canonical[terms[row][i]] = terms[row][i];
                terms[row][i] = term;
                shared[term] = shared.GetValueOrDefault(term) + 1;
            }
        }

        var byKey = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var count = 0;
        for (var row = 0; row < terms.Length; row++)
        {
            if (terms[row].Length == 0)
            {
                continue;
            }

            var key = terms[row].MinBy(t => (shared[t], -t.Length))!;
            if (!byKey.TryGetValue(key, out var rows))
            {
                byKey[key] = rows = [];
            }

            rows.Add(row);
            count++;
        }

        return new InterestWords(terms, byKey.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal)) { Count = count };
    }

    /// <summary>The distinct terms of row <paramref name="row"/>'s interest.</summary>
    public IReadOnlyList<string> TermsOf(int row) => _terms[row];

    /// <summary>The distinct terms of an interest; a hyphenated compound counts as its parts, which a paper has however it writes it.</summary>
    public static string[] TermsOf(string interest) =>
        SearchTerms.Of(interest.Replace('-', ' ')).Select(t => t.Term).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The distinct terms of a paper's title and abstract.</summary>
    public static HashSet<string> TermsOf(PaperSummary paper)
    {
        var terms = new List<SearchTerm>();
        SearchTerms.Append(paper.Title, terms);
        SearchTerms.Append(paper.Abstract, terms);
        var set = new HashSet<string>(terms.Count, StringComparer.Ordinal);
        foreach (var term in terms)
        {
            set.Add(term.Term);
        }

        return set;
    }

    /// <summary>Adds to <paramref name="found"/> each row whose interest's terms all occur in <paramref name="paperTerms"/>.</summary>
    public void Contained(HashSet<string> paperTerms, List<int> found)
    {
        if (_rowsByKey.Count == 0)
        {
            return;
        }

        foreach (var term in paperTerms)
        {
            if (!_rowsByKey.TryGetValue(term, out var rows))
            {
                continue;
            }

            foreach (var row in rows)
            {
                if (AllIn(_terms[row], paperTerms))
                {
                    found.Add(row);
                }
            }
        }
    }

    private static bool AllIn(string[] terms, HashSet<string> paperTerms)
    {
        foreach (var term in terms)
        {
            if (!paperTerms.Contains(term))
            {
                return false;
            }
        }

        return true;
    }
}
