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

    [GeneratedRegex(@"^(?<id>[0-9]{4}\.[0-9]{4,5})(v(?<v>[0-9]{1,4}))?$")]
    private static partial Regex NewStyleArxivId();

    [GeneratedRegex(@"^(?<id>[a-z]+(-[a-z]+)?(\.[A-Z]{2})?/[0-9]{7})(v(?<v>[0-9]{1,4}))?$")]
    private static partial Regex OldStyleArxivId();

    [GeneratedRegex(@"^(?:arxiv:|hf:|doi:10\.48550/arxiv\.)(?<rest>.+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ArxivAlias();
}
