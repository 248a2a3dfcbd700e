using System.Text.RegularExpressions;

namespace Pipeline.Contracts;

/// <summary>
/// The id a paper is known by across the services, for an id as a user writes it: an arXiv id
/// without its version ("2410.17243v2", "arxiv:2410.17243", "hf:2410.17243" and arXiv's DOI
/// "doi:10.48550/arXiv.2410.17243" are all "2410.17243"), else the id as given (trimmed). Ingest
/// stores papers under it; rank and notify take ids in any of these forms through it.
/// </summary>
public static partial class PaperIds
{
    public static string Canonical(string rawId)
    {
        var trimmed = rawId.Trim();
        var unprefixed = ArxivAlias().Match(trimmed) is { Success: true } alias ? alias.Groups["rest"].Value : trimmed;
        var arxiv = NewStyleArxivId().Match(unprefixed);
        if (!arxiv.Success)
        {
            arxiv = OldStyleArxivId().Match(unprefixed);
        }

        return arxiv.Success ? arxiv.Groups["id"].Value : trimmed;
    }

    /// <summary>New-style arXiv ids (0704.0001 to 2410.17243), optionally with a version. Digits are
    /// 0-9 only: .NET's \d matches every Unicode digit ("2410.17243v\u0661"), which is no arXiv id.</summary>
    [GeneratedRegex(@"^(?<id>[0-9]{4}\.[0-9]{4,5})(v(?<v>[0-9]{1,4}))?$")]
    public static partial Regex NewStyleArxivId();

    /// <summary>Old-style arXiv ids: archive(.subject class)/YYMMNNN, such as astro-ph/0601001 or math.GT/0309136.</summary>
    [GeneratedRegex(@"^(?<id>[a-z]+(-[a-z]+)?(\.[A-Z]{2})?/[0-9]{7})(v(?<v>[0-9]{1,4}))?$")]
    public static partial Regex OldStyleArxivId();

    /// <summary>
    /// An arXiv paper written with a prefix: "arxiv:2410.17243", Hugging Face's "hf:2410.17243" (its
    /// paper pages are arXiv ids), arXiv's own DOI "doi:10.48550/arXiv.2410.17243". The rest is
    /// taken as the id when it is an arXiv id, so the paper is one paper, not two.
    /// </summary>
    [GeneratedRegex(@"^(?:arxiv:|hf:|doi:10\.48550/arxiv\.)(?<rest>.+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    public static partial Regex ArxivAlias();
}
