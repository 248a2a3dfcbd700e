using System.Collections.Frozen;

namespace Pipeline.Rank.Ranking.Relevance;

/// <summary>A term as the lexical index knows it, and the word it came from (for reasons a person reads).</summary>
public readonly record struct SearchTerm(string Term, string Word);

/// <summary>
/// Turns text into the terms the lexical index matches on: lowercased runs of letters and digits,
/// English stopwords and one-letter tokens dropped, light stemming (Porter's step 1: plurals,
/// -ed, -ing, y to i), and hyphenated compounds kept whole as well as split, so "GPT-4o" matches
/// "gpt 4o", "gpt-4o" and "gpt4o", and "test-time" still matches "time".
/// </summary>
public static class SearchTerms
{
    /// <summary>Longer tokens are noise (hashes, base64, runs of digits); they are cut, not dropped.</summary>
    public const int MaxTermLength = 40;

    // A common English list (Lucene's and Snowball's core words). Domain words such as "model" or
    // "testing" stay: IDF already weighs them down where they are common.
    private static readonly FrozenSet<string> Stopwords = new[]
    {
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
        "did", "do", "does", "doing", "down", "during", "each", "either", "etc", "few", "for", "from", "further",
        "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
        "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "may", "me", "might", "more", "most",
        "must", "my", "myself", "no", "nor", "not", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
        "ourselves", "out", "over", "own", "same", "shall", "she", "should", "so", "some", "such", "than", "that",
        "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through",
        "thus", "to", "too", "under", "until", "up", "upon", "us", "very", "via", "was", "we", "were", "what",
        "when", "where", "whether", "which", "while", "who", "whom", "why", "will", "with", "within", "without",
        "would", "yet", "you", "your", "yours", "yourself", "yourselves",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The terms of <paramref name="text"/> in order, repeats included.</summary>
    public static List<SearchTerm> Of(string? text)
    {
        var terms = new List<SearchTerm>();
        Append(text, terms);
        return terms;
    }

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> StopwordSpans = Stopwords.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Appends the terms of <paramref name="text"/> to <paramref name="terms"/>.</summary>
    public static void Append(string? text, List<SearchTerm> terms)
    {
        var sink = new ListSink(terms);
        Tokenize(text.AsSpan(), ref sink);
    }

    /// <summary>
    /// Counts the terms of <paramref name="text"/> into <paramref name="counter"/> (in the title's
    /// or the abstract's count) and returns how many there were: the terms <see cref="Of"/> gives.
    /// A word the counter has met before is counted without being stemmed again.
    /// </summary>
    internal static int CountInto(ReadOnlySpan<char> text, TermCounter counter, bool title)
    {
        var sink = new CounterSink(counter, title);
        Tokenize(text, ref sink);
        return sink.Total;
    }

    private interface ISink
    {
        /// <summary>Counts a word (past the stopword check) whose term the sink already knows from an earlier <see cref="Add"/>; false to have it stemmed and added.</summary>
        bool TryAddKnown(ReadOnlySpan<char> word);

        void Add(ReadOnlySpan<char> term, ReadOnlySpan<char> surface);
    }

    private readonly struct ListSink(List<SearchTerm> terms) : ISink
    {
        public bool TryAddKnown(ReadOnlySpan<char> word) => false;

        public void Add(ReadOnlySpan<char> term, ReadOnlySpan<char> surface)
        {
            var word = new string(surface);
            terms.Add(new SearchTerm(term.SequenceEqual(surface) ? word : new string(term), word));
        }
    }

    private struct CounterSink(TermCounter counter, bool title) : ISink
    {
        public int Total;

        public bool TryAddKnown(ReadOnlySpan<char> word)
        {
            if (!counter.TryCount(word, title))
            {
                return false;
            }

            Total++;
            return true;
        }

        public void Add(ReadOnlySpan<char> term, ReadOnlySpan<char> surface)
        {
            counter.Count(term, surface, title);
            Total++;
        }
    }

    private static void Tokenize<TSink>(ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ISink
    {
        if (text.IsEmpty)
        {
            return;
        }

        Span<char> word = stackalloc char[MaxTermLength];
        Span<char> compound = stackalloc char[MaxTermLength];
        var wordLength = 0;
        var compoundLength = 0;
        var parts = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            var c = i < text.Length ? text[i] : ' ';
            if (char.IsLetterOrDigit(c))
            {
                var lower = char.ToLowerInvariant(c);
                if (wordLength < MaxTermLength)
                {
                    word[wordLength++] = lower;
                }

                if (compoundLength < MaxTermLength)
                {
                    compound[compoundLength++] = lower;
                }

                continue;
            }

            if (wordLength > 0)
            {
                Emit(word[..wordLength], ref sink);
                parts++;
                wordLength = 0;
            }

            // A hyphen between two alphanumerics continues a compound ("gpt-4", "state-of-the-art").
            var joins = c == '-' && compoundLength > 0 && i + 1 < text.Length && char.IsLetterOrDigit(text[i + 1]);
            if (!joins)
            {
                if (parts > 1)
                {
                    EmitWhole(compound[..compoundLength], ref sink);
                }

                compoundLength = 0;
                parts = 0;
            }
        }
    }

    private static void Emit<TSink>(ReadOnlySpan<char> word, ref TSink sink)
        where TSink : struct, ISink
    {
        if (word.Length < 2 || StopwordSpans.Contains(word) || sink.TryAddKnown(word))
        {
            return;
        }

        Span<char> stem = stackalloc char[MaxTermLength];
        sink.Add(stem[..EnglishStemmer.Stem(word, stem)], word);
    }

    // The joined compound is not stemmed further than its last part would be, and never dropped as a stopword.
    private static void EmitWhole<TSink>(ReadOnlySpan<char> compound, ref TSink sink)
        where TSink : struct, ISink
    {
        // A word stems the same whether it came whole or joined: a compound met before is known too.
        if (sink.TryAddKnown(compound))
        {
            return;
        }

        Span<char> stem = stackalloc char[MaxTermLength];
        sink.Add(stem[..EnglishStemmer.Stem(compound, stem)], compound);
    }
}
