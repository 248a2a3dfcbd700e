namespace Pipeline.Contracts.Messages;

/// <summary>What text a paper is embedded from: part of the contract, since rank embeds papers through embed when it rebuilds.</summary>
public static class PaperText
{
    /// <summary>
    /// The title, a sentence break, then the abstract: <c>"Attention Is All You Need. The dominant
    /// sequence transduction models ..."</c>. Runs of whitespace (arXiv wraps titles and abstracts
    /// over lines) become one space and both ends are trimmed, so the same content always gives the
    /// same text and thus the same cache key. A title that already ends in <c>.</c>, <c>?</c> or
    /// <c>!</c> gets no extra full stop; an empty part is left out with its separator.
    /// </summary>
    /// <remarks>
    /// ". " rather than a newline: the tokenizer drops newlines like any whitespace, so only
    /// punctuation tells MiniLM where the title ends and the abstract begins.
    /// </remarks>
    public static string Of(string? title, string? @abstract)
    {
        var t = CollapseWhitespace(title);
        var a = CollapseWhitespace(@abstract);
        if (t.Length == 0)
        {
            return a;
        }

        if (a.Length == 0)
        {
            return t;
        }

        return t[^1] is '.' or '?' or '!' ? $"{t} {a}" : $"{t}. {a}";
    }

    private static string CollapseWhitespace(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "";
        }

        return string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }
}
