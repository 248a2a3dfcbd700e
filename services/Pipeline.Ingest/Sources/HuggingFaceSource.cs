using System.Globalization;
using Pipeline.Ingest.Sources.Fetching;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// Hugging Face daily papers, one request per day. The cursor is the first day the next poll
/// fetches: yesterday and today are fetched again while they still gather upvotes (a change is an
/// update, the same numbers a duplicate); older days once. A day without papers is normal.
/// </summary>
public sealed class HuggingFaceSource(HuggingFaceOptions options, SourceHttp http, TimeProvider clock) : HttpPaperSource(SourceName, options, http)
{
    public const string SourceName = HuggingFaceDailyParser.Source;

    private readonly HuggingFaceOptions _options = options;

    public override async Task PollAsync(SourcePoll poll, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var from = DateOnly.TryParseExact(poll.Cursor, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var c)
            ? c
            : today.AddDays(1 - Math.Max(1, _options.FirstPollDays));
        if (from > today)
        {
            from = today;
        }

        for (var day = from; day <= today; day = day.AddDays(1))
        {
            var date = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var separator = _options.BaseUrl.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            var fetched = await FetchAsync(poll, new Uri($"{_options.BaseUrl}{separator}date={date}"), cancellationToken);
            EnsureSuccess(fetched);
            var feed = await ParseAsync(poll, fetched, f => HuggingFaceDailyParser.Parse(f.Body, day, SourceName));
            await poll.RejectAsync(feed.Rejections);
            await poll.SubmitAsync(feed.Papers, cancellationToken);
            var next = day < today.AddDays(-1) ? day.AddDays(1) : today.AddDays(-1);
            await poll.SaveCursorAsync(next.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        }
    }
}
