using System.Net;
using System.Text.Json;
using Pipeline.Ingest.Sources.Fetching;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// arXiv's daily announcement feed, one request per category. The feed changes once a day, so the
/// cursor keeps each category's ETag and the next poll asks conditionally: 304 Not Modified costs
/// nothing. Replacements only update papers ingest holds (see <see cref="ArxivListingParser"/>).
/// </summary>
public sealed class ArxivRssSource(ArxivRssOptions options, SourceHttp http) : HttpPaperSource(SourceName, options, http)
{
    public const string SourceName = "arxiv-rss";

    private readonly ArxivRssOptions _options = options;

    public override async Task PollAsync(SourcePoll poll, CancellationToken cancellationToken)
    {
        if (_options.Categories.Length == 0)
        {
            throw new InvalidOperationException("Sources:ArxivRss needs Categories.");
        }

        var etags = Read(poll.Cursor);
        foreach (var category in _options.Categories.Select(c => c.Trim()).Where(c => c.Length > 0))
        {
            var url = new Uri(_options.BaseUrl.TrimEnd('/') + "/" + Uri.EscapeDataString(category));
            var fetched = await FetchAsync(poll, url, cancellationToken, etags.GetValueOrDefault(category));
            if (fetched.Status == HttpStatusCode.NotModified)
            {
                continue;
            }

            EnsureSuccess(fetched);
            var feed = await ParseAsync(poll, fetched, f => ArxivListingParser.Parse(new MemoryStream(f.Body, writable: false), SourceName));
            await poll.RejectAsync(feed.Rejections);
            await poll.SubmitAsync(feed.Papers, cancellationToken);
            if (fetched.ETag is { } etag)
            {
                etags[category] = etag;
            }
            else
            {
                etags.Remove(category);
            }

            await poll.SaveCursorAsync(JsonSerializer.Serialize(etags));
        }
    }

    private static Dictionary<string, string> Read(string? cursor)
    {
        try
        {
            return cursor is { Length: > 0 } ? JsonSerializer.Deserialize<Dictionary<string, string>>(cursor) ?? [] : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }
}
