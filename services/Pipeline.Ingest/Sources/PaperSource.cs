using System.Diagnostics;
using System.Net;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Fetching;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// A place papers come from. A poll fetches what is new since the source's cursor and hands the
/// papers to <see cref="SourcePoll.SubmitAsync"/> (the same intake as SubmitPapers: validation,
/// identity, de-duplication, storage, publishing). Parsing is a plain class beside each source.
/// </summary>
public interface IPaperSource
{
    /// <summary>The name in ListSources, PollSource, metrics and each paper's <c>source</c>.</summary>
    string Name { get; }

    SourceOptions Options { get; }

    /// <summary>
    /// One poll. Throws when the source failed (the runner records the error); returns normally
    /// when there was nothing new, which on weekends and holidays is the usual answer.
    /// </summary>
    Task PollAsync(SourcePoll poll, CancellationToken cancellationToken);
}

/// <summary>One run of a source: its cursor, and where its papers, rejections and failed bodies go.</summary>
public abstract class SourcePoll
{
    /// <summary>Where the previous poll stopped (source-specific text), or null the first time.</summary>
    public abstract string? Cursor { get; }

    public abstract ActivitySource ActivitySource { get; }

    /// <summary>Submits papers of one page or batch; a source calls it as it goes, so progress survives a restart.</summary>
    /// <param name="entries">How to name each paper in a rejection ("line 12"); its id when not given.</param>
    public abstract Task SubmitAsync(IReadOnlyList<PaperSubmission> papers, CancellationToken cancellationToken, IReadOnlyList<string>? entries = null);

    /// <summary>Entries the parser refused, recorded with their reasons; the rest of the feed goes on.</summary>
    public abstract Task RejectAsync(IReadOnlyList<EntryRejection> rejections);

    /// <summary>Persists the cursor now (after a page), so a restart resumes here.</summary>
    public abstract Task SaveCursorAsync(string cursor);

    /// <summary>Keeps (the start of) a body that failed to parse, for inspection.</summary>
    public abstract Task KeepBodyAsync(Uri url, ReadOnlyMemory<byte> body, string reason);
}

/// <summary>What the HTTP sources share: fetch within limits, parse, keep what fails, trace both.</summary>
public abstract class HttpPaperSource(string name, HttpSourceOptions options, SourceHttp http) : IPaperSource
{
    public string Name { get; } = name;

    public SourceOptions Options => options;

    protected HttpSourceOptions HttpOptions => options;

    public abstract Task PollAsync(SourcePoll poll, CancellationToken cancellationToken);

    /// <summary>GET <paramref name="url"/> in a "fetch {source}" span; a cut-off body is kept and rethrown.</summary>
    protected async Task<FetchedBody> FetchAsync(SourcePoll poll, Uri url, CancellationToken cancellationToken, string? etag = null)
    {
        using var activity = poll.ActivitySource.StartActivity($"fetch {Name}", ActivityKind.Client);
        activity?.SetTag("url.full", url.ToString());
        try
        {
            var fetched = await http.GetAsync(url, cancellationToken, etag);
            activity?.SetTag("http.response.status_code", (int)fetched.Status);
            activity?.SetTag("http.response.body.size", fetched.Body.Length);
            activity?.SetTag("pipeline.fetch.attempts", fetched.Attempts);
            return fetched;
        }
        catch (FetchException e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            if (e.PartialBody is { Length: > 0 } partial)
            {
                await poll.KeepBodyAsync(url, partial, e.Message);
            }

            throw;
        }
    }

    /// <summary>
    /// Parses in a "parse {source}" span. A body that fails to parse is kept and the poll fails
    /// with the reason; an error document fails the poll without being kept (it parsed fine).
    /// </summary>
    protected async Task<ParsedFeed> ParseAsync(SourcePoll poll, FetchedBody fetched, Func<FetchedBody, ParsedFeed> parse)
    {
        using var activity = poll.ActivitySource.StartActivity($"parse {Name}");
        try
        {
            var feed = parse(fetched);
            activity?.SetTag("pipeline.parse.papers", feed.Papers.Count);
            activity?.SetTag("pipeline.parse.rejected", feed.Rejections.Count);
            return feed;
        }
        catch (FeedFormatException e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            await poll.KeepBodyAsync(fetched.Url, fetched.Body, e.Message);
            throw;
        }
        catch (SourceErrorException e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    /// <summary>Any answer but 2xx (or one the source knows how to read) ends the poll with the status.</summary>
    protected static void EnsureSuccess(FetchedBody fetched, params HttpStatusCode[] alsoReadable)
    {
        if ((int)fetched.Status is < 200 or > 299 && !alsoReadable.Contains(fetched.Status))
        {
            var snippet = System.Text.Encoding.UTF8.GetString(fetched.Body.AsSpan(0, Math.Min(200, fetched.Body.Length)));
            throw new SourceErrorException($"{fetched.Url.GetLeftPart(UriPartial.Path)} answered HTTP {(int)fetched.Status}: {PaperValidator.Fold(snippet)}");
        }
    }
}
