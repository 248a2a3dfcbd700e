using System.Text.RegularExpressions;
using System.Xml.Linq;
using Pipeline.Ingest.Papers;
using static Pipeline.Ingest.Sources.Parsing.AtomXml;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>
/// Reads arXiv's daily announcement feed of a category (<c>rss.arxiv.org/rss/cs.LG</c>, RSS 2.0,
/// or <c>rss.arxiv.org/atom/cs.LG</c>, Atom), one item at a time. Each item says how it is
/// announced: <c>new</c> and <c>cross</c> (a new paper listed in another category) are papers to
/// take; <c>replace</c> and <c>replace-cross</c> are new versions of papers announced before, so
/// they only update a paper ingest already holds and are never announced as new.
/// </summary>
public static partial class ArxivListingParser
{
    // "arXiv:2410.13863v1 Announce Type: new \nAbstract: ..." opens every description.
    [GeneratedRegex(@"^\s*arXiv:(?<id>\S+)\s+Announce Type:\s*(?<type>[A-Za-z-]+)\s*(?:Abstract:\s*)?", RegexOptions.CultureInvariant)]
    private static partial Regex AnnouncePrefix();

    // dc:creator lists names separated by commas, the last one sometimes by "and".
    [GeneratedRegex(@"\s*,\s*(?:and\s+)?|\s+and\s+", RegexOptions.CultureInvariant)]
    private static partial Regex AuthorSeparator();

    public static readonly IReadOnlySet<string> AnnounceTypes = new HashSet<string>(StringComparer.Ordinal) { "new", "cross", "replace", "replace-cross" };

    public static ParsedFeed Parse(Stream body, string source = "arxiv-rss", long maxCharacters = SafeXml.DefaultMaxCharacters)
    {
        var papers = new List<PaperSubmission>();
        var rejections = new List<EntryRejection>();
        var position = 0;
        var root = ReadEntries(
            body,
            name => name.LocalName == "item" && name.Namespace == XNamespace.None || name == Atom + "entry",
            entry =>
            {
                position++;
                ParsedFeed.CheckEntryCount(position);
                try
                {
                    papers.Add(ToSubmission(entry, source));
                }
                catch (FormatException e)
                {
                    var id = entry.Element("guid")?.Value ?? entry.Element(Atom + "id")?.Value;
                    rejections.Add(new EntryRejection(id is { Length: > 0 } ? Short(id.Trim()) : $"entry {position}", e.Message));
                }
            },
            maxCharacters: maxCharacters);

        if (root is not ("rss" or "feed"))
        {
            throw new FeedFormatException($"expected an RSS <rss> or Atom <feed>, found <{root}>");
        }

        return new ParsedFeed(papers, rejections);
    }

    private static PaperSubmission ToSubmission(XElement item, string source)
    {
        var atom = item.Name.Namespace == Atom;
        var description = atom ? item.Text(Atom + "summary") : item.Text("description");
        var prefix = AnnouncePrefix().Match(description ?? "");
        var announceType = item.Text(Arxiv + "announce_type")?.Trim() ?? (prefix.Success ? prefix.Groups["type"].Value : null);
        if (announceType is null)
        {
            throw new FormatException("the item has no announce type");
        }

        if (!AnnounceTypes.Contains(announceType))
        {
            throw new FormatException($"unknown announce type '{Short(announceType)}'");
        }

        // The id with its version is in the description's prefix and in the guid/oai id; the link is versionless.
        var candidates = new[]
        {
            prefix.Success ? prefix.Groups["id"].Value : null,
            atom ? item.Text(Atom + "id") : item.Text("guid"),
            atom ? item.Elements(Atom + "link").FirstOrDefault()?.Attribute("href")?.Value : item.Text("link"),
        };
        string id = "";
        var version = 0;
        if (!candidates.Any(c => ArxivIds.TryParse(c, out id, out version)))
        {
            throw new FormatException("the item has no arXiv id");
        }

        var abstractText = prefix.Success ? description![prefix.Length..] : description;
        var creators = item.Text(Dc + "creator")
            ?? string.Join(", ", item.Elements(Atom + "author").Select(a => a.Text(Atom + "name")));
        var authors = AuthorSeparator().Split(PaperValidator.Fold(creators))
            .Select(a => a.Trim())
            .Where(a => a.Length > 0)
            .ToArray();
        var categories = atom
            ? item.Elements(Atom + "category").Select(c => c.Attribute("term")?.Value ?? "")
            : item.Elements("category").Select(c => c.Value);
        var published = atom ? Date(item.Text(Atom + "published") ?? item.Text(Atom + "updated")) : Date(item.Text("pubDate"));

        return new PaperSubmission(
            id,
            version,
            PaperValidator.Fold(atom ? item.Text(Atom + "title") : item.Text("title")),
            PaperValidator.Fold(abstractText),
            authors,
            categories.Select(c => c.Trim()).Where(c => c.Length > 0).ToArray(),
            published,
            $"https://arxiv.org/abs/{id}",
            source,
            0)
        {
            OnlyIfKnown = announceType is "replace" or "replace-cross",
        };
    }
}
