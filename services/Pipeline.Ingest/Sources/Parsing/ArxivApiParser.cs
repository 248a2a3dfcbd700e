using System.Globalization;
using System.Xml.Linq;
using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;
using static Pipeline.Ingest.Sources.Parsing.AtomXml;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>
/// Reads a response of the arXiv query API (<c>export.arxiv.org/api/query</c>, Atom 1.0 with
/// arxiv: and opensearch: extensions), one entry at a time: a bad entry is rejected alone. The
/// API's error answer (a feed whose single entry is titled "Error", sent with HTTP 400) is a
/// <see cref="SourceErrorException"/>; a feed with no entries is an empty result.
/// </summary>
public static class ArxivApiParser
{
    public static ParsedFeed Parse(Stream body, string source = "arxiv-api", long maxCharacters = SafeXml.DefaultMaxCharacters)
    {
        var papers = new List<PaperSubmission>();
        var rejections = new List<EntryRejection>();
        int? total = null, start = null;
        string? apiError = null;
        var position = 0;

        var root = ReadEntries(
            body,
            name => name == Atom + "entry",
            entry =>
            {
                position++;
                ParsedFeed.CheckEntryCount(position);
                if (IsErrorEntry(entry))
                {
                    apiError = Fold(entry.Text(Atom + "summary")) is { Length: > 0 } s ? s : "unknown error";
                    return;
                }

                try
                {
                    papers.Add(ToSubmission(entry, source));
                }
                catch (FormatException e)
                {
                    rejections.Add(new EntryRejection(EntryName(entry, position), e.Message));
                }
            },
            name => name.Namespace == OpenSearch,
            (name, value) =>
            {
                if (int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    if (name.LocalName == "totalResults") total = n;
                    else if (name.LocalName == "startIndex") start = n;
                }
            },
            maxCharacters);

        if (root != "feed")
        {
            throw new FeedFormatException($"expected an Atom <feed>, found <{root}>");
        }

        if (apiError is not null)
        {
            throw new SourceErrorException($"arXiv API error: {apiError}");
        }

        return new ParsedFeed(papers, rejections, total, start);
    }

    // The API's error feed: its entry's id points into arxiv.org/api/errors and its title is "Error".
    private static bool IsErrorEntry(XElement entry) =>
        (entry.Text(Atom + "id") ?? "").Contains("/api/errors", StringComparison.Ordinal)
        || (entry.Text(Atom + "title")?.Trim() == "Error" && !ArxivIds.TryParse(entry.Text(Atom + "id"), out _, out _));

    private static string EntryName(XElement entry, int position) =>
        entry.Text(Atom + "id") is { Length: > 0 } id ? Short(id.Trim()) : $"entry {position}";

    /// <summary>One Atom entry as a paper; throws <see cref="FormatException"/> with the reason it is not one.</summary>
    public static PaperSubmission ToSubmission(XElement entry, string source)
    {
        var rawId = entry.Text(Atom + "id");
        if (!ArxivIds.TryParse(rawId, out var id, out var version))
        {
            throw new FormatException(rawId is null ? "the entry has no id" : $"'{Short(rawId.Trim())}' is not an arXiv id");
        }

        var authorDetails = new List<AuthorDetail>();
        foreach (var author in entry.Elements(Atom + "author"))
        {
            var name = Fold(author.Text(Atom + "name"));
            if (name.Length > 0)
            {
                authorDetails.Add(new AuthorDetail(name, author.Elements(Arxiv + "affiliation").Select(a => Fold(a.Value)).Where(a => a.Length > 0).ToArray()));
            }
        }

        string? pdf = null, doiLink = null;
        foreach (var link in entry.Elements(Atom + "link"))
        {
            var href = link.Attribute("href")?.Value;
            var rel = link.Attribute("rel")?.Value;
            var title = link.Attribute("title")?.Value;
            if (href is null) continue;
            if (rel == "alternate") continue;
            if (title == "pdf" || link.Attribute("type")?.Value == "application/pdf") pdf ??= href;
            else if (title == "doi") doiLink ??= href;
        }

        var categories = entry.Elements(Atom + "category").Select(c => c.Attribute("term")?.Value ?? "").Where(t => t.Length > 0).ToList();
        var primary = entry.Element(Arxiv + "primary_category")?.Attribute("term")?.Value;
        // The primary category leads the list, as arXiv shows it.
        if (primary is { Length: > 0 } && (categories.Count == 0 || categories[0] != primary))
        {
            categories.Remove(primary);
            categories.Insert(0, primary);
        }

        var doi = Fold(entry.Text(Arxiv + "doi"));
        if (doi.Length == 0 && doiLink is not null && doiLink.Contains("doi.org/", StringComparison.Ordinal))
        {
            doi = doiLink[(doiLink.IndexOf("doi.org/", StringComparison.Ordinal) + 8)..];
        }

        var metadata = new PaperMetadata(
            PrimaryCategory: primary,
            UpdatedAt: Date(entry.Text(Atom + "updated")),
            PdfUrl: pdf,
            Doi: doi.Length == 0 ? null : doi,
            Comment: NullIfEmpty(Fold(entry.Text(Arxiv + "comment"))),
            JournalRef: NullIfEmpty(Fold(entry.Text(Arxiv + "journal_ref"))),
            AuthorDetails: authorDetails.Count == 0 ? null : authorDetails);

        return new PaperSubmission(
            id,
            version,
            Fold(entry.Text(Atom + "title")),
            Fold(entry.Text(Atom + "summary")),
            authorDetails.Select(a => a.Name).ToArray(),
            categories,
            Date(entry.Text(Atom + "published")),
            // The versionless abstract page: a paper has one address across its versions.
            $"https://arxiv.org/abs/{id}",
            source,
            0)
        {
            Metadata = metadata,
        };
    }

    private static string Fold(string? text) => PaperValidator.Fold(text);

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;
}
