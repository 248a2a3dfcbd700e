using System.Globalization;

namespace Pipeline.Notify.Delivery;

/// <summary>A paper as a digest shows it; rank's answer mapped to plain fields.</summary>
public sealed record DigestPaper(
    string Id,
    string Title,
    IReadOnlyList<string> Authors,
    IReadOnlyList<string> Categories,
    string Url,
    string Abstract,
    string Reason,
    DateTimeOffset? PublishedAt,
    string? TraceParent = null);

/// <summary>What one digest email holds.</summary>
public sealed record Digest(
    string SubscriberId,
    DigestPeriod Period,
    string Cadence,
    IReadOnlyList<string> Interests,
    IReadOnlyList<DigestPaper> Papers,
    IReadOnlyList<DigestPaper> Trending)
{
    public bool IsEmpty => Papers.Count == 0;

    /// <summary>Every paper the email shows, for the delivery log and DigestSent.</summary>
    public IReadOnlyList<string> PaperIds => [.. Papers.Select(p => p.Id), .. Trending.Select(p => p.Id)];

    /// <summary>"today" or "this week", as the subject and heading say it.</summary>
    public string When => Cadence == "weekly" ? "this week" : "today";

    /// <summary>A subject that says what is inside: how many papers, on what, and the top one.</summary>
    public string Subject
    {
        get
        {
            if (IsEmpty)
            {
                return $"No new papers on {Topics(Interests)} {When}";
            }

            return $"{Heading}: {DigestComposer.Excerpt(Templates.TexMath.ToUnicode(Papers[0].Title), 80)}";
        }
    }

    /// <summary>"3 new papers on diffusion models": the subject without its top paper, the email's heading.</summary>
    public string Heading
    {
        get
        {
            var count = Papers.Count == 1 ? "1 new paper" : string.Create(CultureInfo.InvariantCulture, $"{Papers.Count} new papers");
            return $"{count} on {Topics(Interests)}";
        }
    }

    /// <summary>"diffusion models", "diffusion models and protein folding", "diffusion models, protein folding and 2 more".</summary>
    public static string Topics(IReadOnlyList<string> interests)
    {
        var names = interests.Select(i => DigestComposer.Excerpt(i, 40)).ToArray();
        return names.Length switch
        {
            0 => "your interests",
            1 => names[0],
            2 => $"{names[0]} and {names[1]}",
            _ => string.Create(CultureInfo.InvariantCulture, $"{names[0]}, {names[1]} and {names.Length - 2} more"),
        };
    }
}

/// <summary>
/// Picks what a digest shows: the recommended papers that were not sent before (at most the
/// subscriber's number), and a short trending section without repeats.
/// </summary>
public static class DigestComposer
{
    public const int TrendingCount = 3;

    public static Digest Compose(
        string subscriberId,
        DigestPeriod period,
        string cadence,
        IReadOnlyList<string> interests,
        int maxPapers,
        IEnumerable<DigestPaper> recommended,
        IEnumerable<DigestPaper> trending,
        IReadOnlySet<string> alreadySent)
    {
        var shown = new HashSet<string>(alreadySent, StringComparer.Ordinal);
        var papers = recommended.Where(p => shown.Add(p.Id)).Take(Math.Max(1, maxPapers)).ToArray();
        var hot = papers.Length == 0 ? [] : trending.Where(p => shown.Add(p.Id)).Take(TrendingCount).ToArray();
        return new Digest(subscriberId, period, cadence, interests, papers, hot);
    }

    /// <summary>
    /// At most <paramref name="max"/> characters, the ellipsis included, white space folded: cut at
    /// the last word boundary when it leaves at least half, else (scripts written without spaces,
    /// a long URL) at the limit, never inside a surrogate pair.
    /// </summary>
    public static string Excerpt(string text, int max)
    {
        text = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        if (text.Length <= max)
        {
            return text;
        }

        var room = Math.Max(1, max - 1);
        var cut = text.LastIndexOf(' ', room);
        if (cut < room / 2)
        {
            cut = char.IsHighSurrogate(text[room - 1]) && room > 1 ? room - 1 : room;
        }

        return text[..cut].TrimEnd() + "…";
    }

    /// <summary>The PDF of an arXiv paper; empty when the paper has no known PDF address.</summary>
    public static string PdfUrl(string id, string url)
    {
        if (SafeUrl(url) is { Length: > 0 } safe && safe.Contains("arxiv.org/abs/", StringComparison.OrdinalIgnoreCase))
        {
            return safe.Replace("/abs/", "/pdf/", StringComparison.OrdinalIgnoreCase);
        }

        return LooksLikeArxivId(id) ? $"https://arxiv.org/pdf/{id}" : "";
    }

    /// <summary>The abstract page: the paper's own http(s) address, else arXiv's for an arXiv id.</summary>
    public static string AbstractUrl(string id, string url) =>
        SafeUrl(url) is { Length: > 0 } safe ? safe : LooksLikeArxivId(id) ? $"https://arxiv.org/abs/{id}" : "";

    /// <summary>Only http and https links reach an email: no javascript: or data: from a paper's fields.</summary>
    public static string SafeUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? uri.AbsoluteUri
            : "";

    private static bool LooksLikeArxivId(string id) =>
        System.Text.RegularExpressions.Regex.IsMatch(id, @"^(\d{4}\.\d{4,5}|[a-z\-]+(\.[A-Z]{2})?/\d{7})$");
}
