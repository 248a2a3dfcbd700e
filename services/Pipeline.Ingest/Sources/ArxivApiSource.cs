using System.Globalization;
using System.Net;
using System.Text.Json;
using Pipeline.Ingest.Sources.Fetching;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// The arXiv query API, newest updates first, page by page. The cursor is the newest
/// <c>updated</c> time of the last complete poll (the watermark): a poll pages until a page reaches
/// further back than the watermark less <see cref="ArxivApiOptions.Lookback"/> (arXiv announces
/// papers days after the time it gives them), so the next poll after a restart fetches the
/// lookback's pages, not everything. While a poll
/// pages, the cursor also holds where it is, so a restart mid-poll resumes at that page, and so
/// does the next poll after one that stopped at <see cref="ArxivApiOptions.MaxResultsPerPoll"/>
/// before reaching the watermark: the watermark moves only once every update after it was taken.
/// Once a day (<see cref="ArxivApiOptions.DeepLookbackEvery"/>) a deep pass, after a poll's
/// ordinary one and within its budget, reads further down (<see cref="ArxivApiOptions.DeepLookback"/>,
/// 30 days), over as many polls as it needs, for papers arXiv held for moderation longer than the
/// lookback. An entry dated beyond tomorrow does not move the watermark.
/// </summary>
public sealed class ArxivApiSource(ArxivApiOptions options, SourceHttp http, TimeProvider? clock = null) : HttpPaperSource(SourceName, options, http)
{
    public const string SourceName = "arxiv-api";

    /// <summary>Polls in a row that find one page empty before it is skipped (each asks <c>MaxAttempts</c> times).</summary>
    public const int PollsOnAnEmptyPage = 3;

    /// <summary>How far ahead of now an entry's date may lie and still move the watermark (a clock's error, a time zone).</summary>
    public static readonly TimeSpan FutureTolerance = TimeSpan.FromDays(1);

    private readonly ArxivApiOptions _options = options;
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public override async Task PollAsync(SourcePoll poll, CancellationToken cancellationToken)
    {
        // The cursor pages newest update first; another order would skip updates of older papers.
        if (!string.Equals(_options.SortBy, "lastUpdatedDate", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"Sources:ArxivApi:SortBy is '{_options.SortBy}'; only lastUpdatedDate is supported: the poll's cursor relies on the newest updates coming first.");
        }

        var now = _clock.GetUtcNow();
        var cursor = ArxivApiCursor.Read(poll.Cursor);
        // A watermark a wrong date pinned ahead of now before such dates were left out: brought back to now.
        if (cursor.Watermark > now || cursor.PendingWatermark > now)
        {
            cursor = cursor with { Watermark = cursor.Watermark > now ? now : cursor.Watermark, PendingWatermark = cursor.PendingWatermark > now ? now : cursor.PendingWatermark };
        }

        // Now and then (DeepLookbackEvery) a deep pass reads further below the watermark
        // (DeepLookback), for papers arXiv held for moderation longer than Lookback. It comes after
        // the ordinary pass of the same poll, with what is left of its budget, and goes on from
        // where it stopped in the next polls: the newest papers are never held back by it.
        var deepOn = _options.DeepLookbackEvery > TimeSpan.Zero && _options.DeepLookback > _options.Lookback;
        ArxivApiCursor Cursor(DateTimeOffset? watermark, int? resumeStart, DateTimeOffset? pendingWatermark) =>
            new(watermark, resumeStart, pendingWatermark)
            {
                DeepStart = deepOn ? cursor.DeepStart : null,
                DeepMark = deepOn ? cursor.DeepMark : null,
                // The first poll counts as deep: nothing lies below it yet.
                DeepPolledAt = !deepOn ? null : cursor.Watermark is null && resumeStart is null ? now : cursor.DeepPolledAt,
            };
        var start = cursor.ResumeStart ?? 0;
        var pending = cursor.PendingWatermark;
        var taken = 0;
        // Entries newer than the watermark this poll met: as many were added above a deep pass's
        // place since the last poll (fewer than were, if arXiv announced some late: then the pass
        // reads a few entries again, never skips one).
        var newer = 0;
        var emptyAnswers = 0;
        var pageSize = Math.Clamp(_options.PageSize, 1, 2_000);
        while (true)
        {
            var fetched = await FetchAsync(poll, PageUrl(start, pageSize), cancellationToken);
            // arXiv answers a bad query with HTTP 400 and an Atom feed that explains it.
            EnsureSuccess(fetched, HttpStatusCode.BadRequest);
            var feed = await ParseAsync(poll, fetched, f => ArxivApiParser.Parse(new MemoryStream(f.Body, writable: false), SourceName));
            if (fetched.Status == HttpStatusCode.BadRequest)
            {
                throw new SourceErrorException($"arXiv answered HTTP 400 to {fetched.Url}");
            }

            var entries = feed.Papers.Count + feed.Rejections.Count;
            if (entries == 0 && feed.TotalResults is { } expected && start < expected)
            {
                // arXiv now and then answers an empty page although results remain (arxiv.py
                // retries those too): ask again, and failing that, keep this page in the cursor
                // and fail the poll, so the next one asks for it again instead of skipping the rest.
                if (++emptyAnswers < Math.Max(1, HttpOptions.MaxAttempts))
                {
                    continue;
                }

                var failedPolls = cursor.ResumeStart == start ? (cursor.EmptyPolls ?? 0) + 1 : 1;
                if (failedPolls >= PollsOnAnEmptyPage)
                {
                    // The same page empty poll after poll: arXiv will not give it (the same query at
                    // the same place). Waiting on it would stop the source for good, newest papers
                    // included; skipping it loses this one page of the listing, said in the error.
                    await poll.SaveCursorAsync(Cursor(cursor.Watermark, start + pageSize, pending).Write());
                    throw new SourceErrorException(
                        $"arXiv answered an empty page at start {start} of {expected} results in {failedPolls} polls in a row; " +
                        $"entries {start} to {start + pageSize - 1} of this listing are skipped and the next poll goes on after them");
                }

                await poll.SaveCursorAsync((Cursor(cursor.Watermark, start, pending) with { EmptyPolls = failedPolls }).Write());
                throw new SourceErrorException(
                    $"arXiv answered an empty page at start {start} of {expected} results {emptyAnswers} times; the next poll asks for it again");
            }

            emptyAnswers = 0;
            await poll.RejectAsync(feed.Rejections);
            await poll.SubmitAsync(feed.Papers, cancellationToken);
            newer += feed.Papers.Count(p => (p.Metadata?.UpdatedAt ?? p.PublishedAt) > cursor.Watermark);

            // An entry dated beyond tomorrow (a wrong date in the feed) does not move the watermark:
            // pinned there, it would stop every later poll after its first page.
            var newest = feed.Papers.Select(p => p.Metadata?.UpdatedAt ?? p.PublishedAt).Where(t => t <= now + FutureTolerance).Max();
            if (newest > pending || pending is null)
            {
                pending = newest ?? pending;
            }

            start += entries;
            taken += entries;
            // Papers arXiv announces late sit below the watermark: the poll reads on past it by the lookback.
            var oldest = feed.Papers.Select(p => p.Metadata?.UpdatedAt ?? p.PublishedAt).Min();
            var reachedWatermark = oldest is { } o && cursor.Watermark is { } mark && o < mark - _options.Lookback;
            var done = entries == 0
                || reachedWatermark
                || (feed.TotalResults is { } total && start >= total);
            if (done)
            {
                var finished = Cursor(Later(pending, cursor.Watermark), null, null);
                var deepDue = deepOn && cursor.Watermark is not null
                    && (cursor.DeepStart is not null || cursor.DeepPolledAt is not { } last || now - last >= _options.DeepLookbackEvery);
                if (deepDue && taken < _options.MaxResultsPerPoll)
                {
                    await DeepPassAsync(poll, finished, cursor.DeepStart is { } deepStart ? deepStart + newer : start, cursor.DeepMark ?? cursor.Watermark!.Value, taken, pageSize, now, cancellationToken);
                    return;
                }

                await poll.SaveCursorAsync(finished.Write());
                return;
            }

            if (taken >= _options.MaxResultsPerPoll)
            {
                if (cursor.Watermark is null)
                {
                    // The first poll: what lies behind the cap is older than anything a user waits
                    // for, and the next poll starts from the newest paper seen.
                    await poll.SaveCursorAsync(Cursor(pending, null, null).Write());
                    return;
                }

                // Updates remain between here and the watermark: the next poll pages on from
                // here until it reaches the watermark, and only then moves it.
                await poll.SaveCursorAsync(Cursor(cursor.Watermark, start, pending).Write());
                return;
            }

            await poll.SaveCursorAsync(Cursor(cursor.Watermark, start, pending).Write());
        }
    }

    /// <summary>
    /// The deep pass: pages on from <paramref name="start"/> until a page reaches further back than
    /// <paramref name="mark"/> (the watermark when the pass began) less <see cref="ArxivApiOptions.DeepLookback"/>,
    /// or the poll's budget is spent, in which case the next poll goes on from there. An empty page
    /// ends this poll's part of it quietly (the next poll asks again). It moves no watermark.
    /// </summary>
    private async Task DeepPassAsync(SourcePoll poll, ArxivApiCursor finished, int start, DateTimeOffset mark, int taken, int pageSize, DateTimeOffset now, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (taken >= _options.MaxResultsPerPoll)
            {
                await poll.SaveCursorAsync((finished with { DeepStart = start, DeepMark = mark }).Write());
                return;
            }

            var fetched = await FetchAsync(poll, PageUrl(start, pageSize), cancellationToken);
            EnsureSuccess(fetched, HttpStatusCode.BadRequest);
            var feed = await ParseAsync(poll, fetched, f => ArxivApiParser.Parse(new MemoryStream(f.Body, writable: false), SourceName));
            if (fetched.Status == HttpStatusCode.BadRequest)
            {
                throw new SourceErrorException($"arXiv answered HTTP 400 to {fetched.Url}");
            }

            var entries = feed.Papers.Count + feed.Rejections.Count;
            if (entries == 0 && feed.TotalResults is { } expected && start < expected)
            {
                await poll.SaveCursorAsync((finished with { DeepStart = start, DeepMark = mark }).Write());
                return;
            }

            await poll.RejectAsync(feed.Rejections);
            await poll.SubmitAsync(feed.Papers, cancellationToken);
            start += entries;
            taken += entries;
            var oldest = feed.Papers.Select(p => p.Metadata?.UpdatedAt ?? p.PublishedAt).Min();
            if (entries == 0 || oldest < mark - _options.DeepLookback || (feed.TotalResults is { } total && start >= total))
            {
                await poll.SaveCursorAsync((finished with { DeepStart = null, DeepMark = null, DeepPolledAt = now }).Write());
                return;
            }
        }
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a > b || b is null ? a : b;

    /// <summary>The query of the configured categories (ORed) and search query, ANDed.</summary>
    public string SearchQuery()
    {
        var parts = new List<string>();
        if (_options.Categories.Length > 0)
        {
            var cats = string.Join(" OR ", _options.Categories.Select(c => "cat:" + c.Trim()));
            parts.Add(_options.Categories.Length > 1 ? $"({cats})" : cats);
        }

        if (!string.IsNullOrWhiteSpace(_options.Query))
        {
            parts.Add(_options.Categories.Length > 0 ? $"({_options.Query.Trim()})" : _options.Query.Trim());
        }

        return parts.Count > 0
            ? string.Join(" AND ", parts)
            : throw new InvalidOperationException("Sources:ArxivApi needs Categories or a Query.");
    }

    public Uri PageUrl(int start, int pageSize) => new(
        $"{_options.BaseUrl}?search_query={Uri.EscapeDataString(SearchQuery())}" +
        $"&start={start.ToString(CultureInfo.InvariantCulture)}&max_results={pageSize.ToString(CultureInfo.InvariantCulture)}" +
        $"&sortBy={Uri.EscapeDataString(_options.SortBy)}&sortOrder=descending");
}

/// <summary>The arXiv API source's cursor, stored as JSON.</summary>
/// <param name="Watermark">Newest update seen by the last complete poll.</param>
/// <param name="ResumeStart">The next page's start while a poll is under way.</param>
/// <param name="PendingWatermark">Newest update seen so far by the poll under way.</param>
public sealed record ArxivApiCursor(DateTimeOffset? Watermark, int? ResumeStart, DateTimeOffset? PendingWatermark)
{
    /// <summary>Polls in a row that ended on an empty page at <see cref="ResumeStart"/> (see <see cref="ArxivApiSource.PollsOnAnEmptyPage"/>).</summary>
    public int? EmptyPolls { get; init; }

    /// <summary>Where the deep pass under way goes on in the next poll (see <see cref="ArxivApiOptions.DeepLookback"/>).</summary>
    public int? DeepStart { get; init; }

    /// <summary>The watermark when the deep pass under way began: it reads down to this less the deep lookback.</summary>
    public DateTimeOffset? DeepMark { get; init; }

    /// <summary>When the last deep pass (or the first poll) completed.</summary>
    public DateTimeOffset? DeepPolledAt { get; init; }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    public static ArxivApiCursor Read(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return new(null, null, null);
        }

        try
        {
            return JsonSerializer.Deserialize<ArxivApiCursor>(text, Json) ?? new(null, null, null);
        }
        catch (JsonException)
        {
            return new(null, null, null); // an unreadable cursor costs one full poll, nothing more
        }
    }

    public string Write() => JsonSerializer.Serialize(this, Json);
}
