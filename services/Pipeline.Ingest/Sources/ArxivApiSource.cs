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
                DeepReached = deepOn ? cursor.DeepReached : null,
                DeepLastId = deepOn ? cursor.DeepLastId : null,
                DeepEmptyPolls = deepOn ? cursor.DeepEmptyPolls : null,
                // The first poll counts as deep: nothing lies below it yet.
                DeepPolledAt = !deepOn ? null : cursor.Watermark is null && resumeStart is null ? now : cursor.DeepPolledAt,
            };
        var start = cursor.ResumeStart ?? 0;
        var pending = cursor.PendingWatermark;
        var taken = 0;
        // New submissions this pass met above the watermark: an estimate of how far a deep pass's
        // place moved down since the last poll, which the pass checks against the last entry it read.
        var newer = 0;
        // The last entry this pass read and its date: where a deep pass starting after it stands.
        string? lastRead = null;
        DateTimeOffset? lastReadAt = null;
        var emptyAnswers = 0;
        var pageSize = Math.Clamp(_options.PageSize, 1, 2_000);
        while (true)
        {
            var feed = await PageAsync(poll, start, pageSize, cancellationToken);
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
            // Only new submissions (a first version dated after the watermark, not beyond tomorrow):
            // an estimate of what was added above a deep pass's place, which the pass checks by date.
            newer += feed.Papers.Count(p => p.PublishedAt > cursor.Watermark && p.PublishedAt <= now + FutureTolerance);

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
            if (feed.Papers.Count > 0)
            {
                (lastRead, lastReadAt) = (feed.Papers[^1].Id, feed.Papers[^1].Metadata?.UpdatedAt ?? feed.Papers[^1].PublishedAt);
            }

            var reachedWatermark = oldest is { } o && cursor.Watermark is { } mark && o < mark - _options.Lookback;
            var done = entries == 0
                || reachedWatermark
                || (feed.TotalResults is { } total && start >= total);
            if (done)
            {
                // Saved first: whatever the deep pass then does, this pass's papers and watermark stand.
                var finished = Cursor(Later(pending, cursor.Watermark), null, null);
                await poll.SaveCursorAsync(finished.Write());
                // Only after an ordinary pass that read from the top of the listing (not one that
                // resumed a capped poll), so the next poll's count of new entries is measured from it.
                var deepDue = deepOn && cursor.Watermark is not null && cursor.ResumeStart is null
                    && (cursor.DeepStart is not null || cursor.DeepPolledAt is not { } last || now - last >= _options.DeepLookbackEvery);
                if (deepDue && taken < _options.MaxResultsPerPoll)
                {
                    var resume = cursor.DeepStart is { } deepStart
                        ? new DeepPlace(deepStart + newer, cursor.DeepReached, cursor.DeepLastId, cursor.DeepMark ?? cursor.Watermark!.Value, cursor.DeepEmptyPolls ?? 0)
                        : new DeepPlace(start, lastReadAt, lastRead, cursor.Watermark!.Value, 0);
                    await DeepPassAsync(poll, finished, resume, taken, pageSize, now, cancellationToken);
                }
                else if (cursor.DeepStart is { } pendingDeep && cursor.ResumeStart is null && newer > 0)
                {
                    // A deep pass under way, not run this poll (no budget left): its place moved down
                    // with the new entries above it (the date check still guards the estimate).
                    await poll.SaveCursorAsync((finished with { DeepStart = pendingDeep + newer }).Write());
                }

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

    /// <summary>One page of the listing, parsed; arXiv's HTTP 400 (a bad query, explained in an Atom feed) fails the poll.</summary>
    private async Task<ParsedFeed> PageAsync(SourcePoll poll, int start, int pageSize, CancellationToken cancellationToken)
    {
        var fetched = await FetchAsync(poll, PageUrl(start, pageSize), cancellationToken);
        EnsureSuccess(fetched, HttpStatusCode.BadRequest);
        var feed = await ParseAsync(poll, fetched, f => ArxivApiParser.Parse(new MemoryStream(f.Body, writable: false), SourceName));
        return fetched.Status == HttpStatusCode.BadRequest
            ? throw new SourceErrorException($"arXiv answered HTTP 400 to {fetched.Url}")
            : feed;
    }

    /// <summary>
    /// Where a deep pass stands: the offset to read next (an estimate once the listing moved), the
    /// date and id of the last entry it read, its mark, and polls in a row that found an empty page there.
    /// </summary>
    private sealed record DeepPlace(int Start, DateTimeOffset? Reached, string? LastId, DateTimeOffset Mark, int EmptyPolls);

    /// <summary>
    /// The deep pass: pages down until a page reaches further back than the mark (the watermark
    /// when the pass began) less <see cref="ArxivApiOptions.DeepLookback"/>, or the poll's budget is
    /// spent, in which case the next poll goes on. The listing moves between polls (new entries on
    /// top, revised papers leaving their place), so a resumed pass starts one entry above its
    /// estimated place and steps back a page while a page's newest entry is older than the date it
    /// had reached: entries may be read twice, none is skipped. An empty page before the last result ends this
    /// poll's part (the next asks again); after <see cref="PollsOnAnEmptyPage"/> such polls the pass
    /// ends, saying where. It moves no watermark.
    /// </summary>
    private async Task DeepPassAsync(SourcePoll poll, ArxivApiCursor finished, DeepPlace place, int taken, int pageSize, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // It reads from one entry before its estimate: that entry is the last one read (or a newer
        // one) unless the estimate overshot, which that entry's date, or its id on equal dates, shows.
        var start = place.Reached is null ? place.Start : Math.Max(0, place.Start - 1);
        var (reached, lastId) = (place.Reached, place.LastId);
        var checking = place.Reached is not null;
        var readAny = false;
        var emptyAnswers = 0;
        Task Save(int? at, int emptyPolls = 0) => poll.SaveCursorAsync((finished with
        {
            DeepStart = at, DeepReached = at is null ? null : reached, DeepLastId = at is null ? null : lastId, DeepMark = at is null ? null : place.Mark,
            DeepEmptyPolls = emptyPolls == 0 ? null : emptyPolls, DeepPolledAt = at is null ? now : finished.DeepPolledAt,
        }).Write());
        while (true)
        {
            if (taken >= _options.MaxResultsPerPoll)
            {
                await Save(start);
                return;
            }

            var feed = await PageAsync(poll, start, pageSize, cancellationToken);
            var entries = feed.Papers.Count + feed.Rejections.Count;
            taken += Math.Max(1, entries);
            var dates = feed.Papers.Select(p => p.Metadata?.UpdatedAt ?? p.PublishedAt).OfType<DateTimeOffset>().ToArray();
            var overshot = checking && start > 0 && (entries == 0
                || (dates.Length > 0 && (dates.Max() < reached || (dates.Max() == reached && lastId is not null && feed.Papers.All(p => p.Id != lastId)))));
            if (overshot)
            {
                // Past the place it had reached (the listing moved, or its end did): a page further up.
                start = Math.Max(0, start - pageSize);
                continue;
            }

            if (entries == 0 && feed.TotalResults is { } expected && start < expected)
            {
                // arXiv's intermittent empty answer: asked again, then left for the next poll; the
                // pass ends only after empty answers at its place in several polls in a row.
                if (++emptyAnswers < Math.Max(1, HttpOptions.MaxAttempts))
                {
                    continue;
                }

                var emptyPolls = readAny ? 1 : place.EmptyPolls + 1;
                if (emptyPolls >= PollsOnAnEmptyPage)
                {
                    await Save(null);
                    throw new SourceErrorException(
                        $"arXiv answered an empty page at start {start} of {expected} results to the deep pass in {emptyPolls} polls in a row; the deep pass ends there");
                }

                await Save(start, emptyPolls);
                return;
            }

            (checking, readAny, emptyAnswers) = (false, true, 0);
            await poll.RejectAsync(feed.Rejections);
            await poll.SubmitAsync(feed.Papers, cancellationToken);
            start += entries;
            if (feed.Papers.Count > 0)
            {
                (lastId, reached) = (feed.Papers[^1].Id, feed.Papers[^1].Metadata?.UpdatedAt ?? feed.Papers[^1].PublishedAt ?? reached);
            }

            if (entries == 0 || reached < place.Mark - _options.DeepLookback || (feed.TotalResults is { } total && start >= total))
            {
                await Save(null);
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

    /// <summary>The oldest date the deep pass under way has read: a resumed pass checks it has not passed it.</summary>
    public DateTimeOffset? DeepReached { get; init; }

    /// <summary>The id of the last entry the deep pass under way read (its place, on equal dates).</summary>
    public string? DeepLastId { get; init; }

    /// <summary>Polls in a row whose deep pass found an empty page at <see cref="DeepStart"/>.</summary>
    public int? DeepEmptyPolls { get; init; }

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
