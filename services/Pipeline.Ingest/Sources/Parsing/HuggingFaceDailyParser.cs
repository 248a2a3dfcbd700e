using System.Globalization;
using System.Text.Json;
using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;

namespace Pipeline.Ingest.Sources.Parsing;

/// <summary>
/// Reads Hugging Face's daily papers (<c>/api/daily_papers?date=yyyy-MM-dd</c>): a JSON array of
/// featured papers. A field may sit inside the item's <c>paper</c> object or at the item's top
/// level (the API has moved fields between them), so each is looked up in both. Papers carry
/// their arXiv id, which is their identity: the same paper from arXiv is the same paper. What HF
/// adds (upvotes, comment count, GitHub repository and stars, the day and time it was featured) goes into
/// the paper's metadata. <c>{"error": ...}</c> is an error, not an empty day; <c>[]</c> is a day
/// without papers (weekends).
/// </summary>
public static class HuggingFaceDailyParser
{
    public const string Source = "huggingface";

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 32, CommentHandling = JsonCommentHandling.Skip };

    public static ParsedFeed Parse(ReadOnlyMemory<byte> body, DateOnly? featuredOn, string source = Source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException e)
        {
            throw new FeedFormatException($"the body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var error))
                {
                    throw new SourceErrorException($"Hugging Face error: {(error.ValueKind == JsonValueKind.String ? error.GetString() : error.GetRawText())}");
                }

                throw new FeedFormatException("expected a JSON array of papers, found an object");
            }

            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new FeedFormatException($"expected a JSON array of papers, found {root.ValueKind}");
            }

            var papers = new List<PaperSubmission>();
            var rejections = new List<EntryRejection>();
            var position = 0;
            foreach (var item in root.EnumerateArray())
            {
                position++;
                ParsedFeed.CheckEntryCount(position);
                try
                {
                    papers.Add(ToSubmission(item, featuredOn, source));
                }
                catch (Exception e) when (e is FormatException or InvalidOperationException)
                {
                    var id = IdForRejection(item);
                    rejections.Add(new EntryRejection(id is { Length: > 0 } ? AtomXml.Short(id) : $"item {position}", e.Message));
                }
            }

            return new ParsedFeed(papers, rejections);
        }
    }

    private static PaperSubmission ToSubmission(JsonElement item, DateOnly? featuredOn, string source)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"expected an object, found {item.ValueKind}");
        }

        var paper = item.TryGetProperty("paper", out var p) && p.ValueKind == JsonValueKind.Object ? p : (JsonElement?)null;
        var rawId = Field(paper, item, "id") ?? throw new FormatException("the paper has no id");
        // arXiv papers keep their arXiv id; anything else is prefixed with the source.
        string id;
        var version = 0;
        if (ArxivIds.TryParse(rawId, out var arxivId, out var v)
            && (rawId.Trim() == arxivId || rawId.Trim() == arxivId + "v" + v.ToString(CultureInfo.InvariantCulture)))
        {
            id = arxivId;
            version = v;
        }
        else
        {
            id = "hf:" + rawId.Trim();
        }

        var authors = new List<string>();
        if (Property(paper, item, "authors") is { ValueKind: JsonValueKind.Array } list)
        {
            foreach (var author in list.EnumerateArray())
            {
                var name = author.ValueKind switch
                {
                    JsonValueKind.String => author.GetString(),
                    JsonValueKind.Object when author.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String => n.GetString(),
                    _ => null,
                };
                if (!string.IsNullOrWhiteSpace(name))
                {
                    authors.Add(name);
                }
            }
        }

        // The paper's own publication date is the paper object's publishedAt; the item's top-level
        // publishedAt has been the same date or, in older answers, the featuring's. When HF put the
        // paper on its daily list is submittedOnDailyAt (a time, or midnight UTC of the list's day);
        // without it the featuring is known by its day alone (the day asked for).
        var published = paper is { } pp && pp.TryGetProperty("publishedAt", out var pub) ? Date(pub) : null;
        var topLevel = item.TryGetProperty("publishedAt", out var top) ? Date(top) : null;
        published ??= topLevel;
        var featuredAt = Property(paper, item, "submittedOnDailyAt") is { } onDaily ? Date(onDaily) : null;
        var day = featuredOn;
        if (day is null && (featuredAt ?? topLevel) is { } f)
        {
            day = DateOnly.FromDateTime(f.UtcDateTime);
        }

        var github = Field(paper, item, "githubRepo");
        var metadata = new PaperMetadata(
            Comments: Int(Property(paper, item, "numComments")),
            GithubRepo: string.IsNullOrWhiteSpace(github) ? null : github.Trim(),
            GithubStars: Int(Property(paper, item, "githubStars")),
            FeaturedOn: day,
            FeaturedAt: featuredAt);

        return new PaperSubmission(
            id,
            version,
            Field(paper, item, "title"),
            Field(paper, item, "summary") ?? Field(paper, item, "abstract"),
            authors,
            [],
            published,
            id.StartsWith("hf:", StringComparison.Ordinal) ? $"https://huggingface.co/papers/{Uri.EscapeDataString(rawId.Trim())}" : $"https://arxiv.org/abs/{id}",
            source,
            Int(Property(paper, item, "upvotes")))
        {
            Metadata = metadata,
        };
    }

    // The id names a rejection, unless the id is what could not be read (invalid UTF-8, a lone surrogate).
    private static string? IdForRejection(JsonElement item)
    {
        try
        {
            return item.ValueKind == JsonValueKind.Object ? Field(item, "id") : null;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    private static JsonElement? Property(JsonElement? paper, JsonElement item, string name)
    {
        if (paper is { } p && p.TryGetProperty(name, out var inPaper) && inPaper.ValueKind != JsonValueKind.Null)
        {
            return inPaper;
        }

        return item.TryGetProperty(name, out var top) && top.ValueKind != JsonValueKind.Null ? top : null;
    }

    private static string? Field(JsonElement? paper, JsonElement item, string name) => Property(paper, item, name) switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Number } n => n.GetRawText(),
        null => null,
        var other => throw new FormatException($"'{name}' is a {other.Value.ValueKind}, not text"),
    };

    private static string? Field(JsonElement item, string name) => Field(null, item, name);

    private static int Int(JsonElement? value) => value switch
    {
        { ValueKind: JsonValueKind.Number } n when n.TryGetInt32(out var i) && i >= 0 => i,
        null => 0,
        var other => throw new FormatException($"expected a count, found {other.Value.GetRawText()}"),
    };

    private static DateTimeOffset? Date(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? AtomXml.Date(value.GetString()) : null;
}
