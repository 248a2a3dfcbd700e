using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>arXiv identifiers as feeds spell them: in abs URLs, oai: ids and "arXiv:" prefixes.</summary>
public static partial class ArxivIds
{
    // 2410.17243v2, 0704.0001, astro-ph/0601001v1, math.GT/0309136 (old style: archive[.class]/YYMMNNN).
    // Digits are 0-9 only (.NET's \d matches every Unicode digit, which int.Parse does not read).
    [GeneratedRegex(@"(?<id>[0-9]{4}\.[0-9]{4,5}|[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/[0-9]{7})(?:v(?<v>[0-9]{1,4}))?$")]
    private static partial Regex Trailing();

    /// <summary>
    /// The versionless id and version (0 when the text carries none) at the end of
    /// <paramref name="text"/>: <c>http://arxiv.org/abs/2202.12139v1</c>, <c>oai:arXiv.org:2410.17243v2</c>,
    /// <c>arXiv:astro-ph/0601001</c>, <c>2410.17243</c>.
    /// </summary>
    public static bool TryParse(string? text, out string id, out int version)
    {
        id = "";
        version = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var match = Trailing().Match(text.Trim());
        if (!match.Success)
        {
            return false;
        }

        // The id must stand alone: "abs/2202.12139", ":2202.12139" or the whole text, never a longer number.
        var start = match.Index;
        if (start > 0 && text.Trim()[start - 1] is not ('/' or ':'))
        {
            return false;
        }

        id = match.Groups["id"].Value;
        version = match.Groups["v"].Success ? int.Parse(match.Groups["v"].Value, CultureInfo.InvariantCulture) : 0;
        return true;
    }
}
