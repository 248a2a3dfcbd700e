using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Sources.Fetching;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Tests.Sources;

/// <summary>The arXiv API source against a local server that serves the recorded pages.</summary>
public class ArxivApiSourceSpecs
{
    private static Task<LocalHttpServer> ServeRecordedPages(Func<int, byte[]>? page = null) => LocalHttpServer.StartAsync(async ctx =>
    {
        var start = int.Parse(ctx.Request.Query["start"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
        ctx.Response.ContentType = "application/atom+xml";
        var body = page?.Invoke(start) ?? (start < 60
            ? SharedData.Bytes($"arxiv-api/query-testing-start{start}-max10.xml")
            : Encoding.UTF8.GetBytes(Fixtures.ArxivFeed()));
        await ctx.Response.Body.WriteAsync(body);
    });

    private static ArxivApiSource Source(string baseUrl) => new(
        new ArxivApiOptions { BaseUrl = baseUrl + "/api/query", Query = "all:testing", PageSize = 10, MinRequestInterval = TimeSpan.FromMilliseconds(10) },
        new SourceHttp(new HttpClient(), new ArxivApiOptions { MinRequestInterval = TimeSpan.Zero }, new PoliteGate(TimeSpan.FromMilliseconds(10), TimeProvider.System), TimeProvider.System, NullLogger.Instance));

    [SharedDataFact]
    public async Task Six_pages_become_sixty_papers_and_the_next_poll_stops_at_the_watermark_after_one_page()
    {
        await using var server = await ServeRecordedPages();
        var source = Source(server.BaseUrl);

        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        Assert.Equal(60, first.Papers.Count);
        Assert.Equal(7, server.Requests.Count); // six pages and the empty seventh
        Assert.Contains("search_query=all%3Atesting", server.Requests[0].PathAndQuery);
        Assert.Null(ArxivApiCursor.Read(first.SavedCursor).ResumeStart);

        var second = new RecordingPoll(first.SavedCursor);
        await source.PollAsync(second, CancellationToken.None);
        Assert.Equal(8, server.Requests.Count);
    }

    [SharedDataFact]
    public async Task A_poll_cut_off_mid_way_resumes_at_the_page_it_had_reached()
    {
        await using var server = await ServeRecordedPages(start => start == 30 ? Encoding.UTF8.GetBytes("<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>") : null!);
        var source = Source(server.BaseUrl);

        var broken = new RecordingPoll();
        await Assert.ThrowsAsync<FeedFormatException>(() => source.PollAsync(broken, CancellationToken.None));
        Assert.Equal(30, broken.Papers.Count);
        Assert.Equal(30, ArxivApiCursor.Read(broken.SavedCursor).ResumeStart);
        Assert.Single(broken.KeptBodies);
    }

    [SharedDataFact]
    public async Task The_real_400_answer_served_over_http_fails_the_poll_with_arxivs_message_and_stores_nothing()
    {
        await using var server = await LocalHttpServer.StartAsync(async ctx =>
        {
            ctx.Response.StatusCode = 400;
            ctx.Response.ContentType = "application/atom+xml";
            await ctx.Response.Body.WriteAsync(SharedData.Bytes("arxiv-api/error-400-malformed-id.xml"));
        });
        var poll = new RecordingPoll();

        var error = await Assert.ThrowsAsync<SourceErrorException>(() => Source(server.BaseUrl).PollAsync(poll, CancellationToken.None));

        Assert.Contains("incorrect id format for abc", error.Message);
        Assert.Empty(poll.Papers);
        Assert.Null(poll.SavedCursor);
    }

    [SharedDataFact]
    public async Task The_real_empty_answer_served_over_http_is_a_quiet_poll()
    {
        await using var server = await LocalHttpServer.StartAsync(ctx => ctx.Response.SendFileAsync(SharedData.PathOf("arxiv-api/empty-unknown-id.xml")));
        var poll = new RecordingPoll();

        await Source(server.BaseUrl).PollAsync(poll, CancellationToken.None);

        Assert.Empty(poll.Papers);
        Assert.Empty(poll.Rejections);
        Assert.Single(server.Requests);
    }

    /// <summary>
    /// arXiv's answer for a list of papers, newest update first: the page at start of max_results,
    /// with the list's length as totalResults, or what <paramref name="instead"/> answers for that
    /// start and request number (1-based, counted over the server's life).
    /// </summary>
    private static Task<LocalHttpServer> ServeUpdates(Func<IReadOnlyList<(string Id, DateTimeOffset Updated)>> list, Func<int, int, string?>? instead = null)
    {
        var requests = 0;
        return LocalHttpServer.StartAsync(async ctx =>
        {
            var start = int.Parse(ctx.Request.Query["start"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            var max = int.Parse(ctx.Request.Query["max_results"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            var papers = list();
            ctx.Response.ContentType = "application/atom+xml";
            var body = instead?.Invoke(start, Interlocked.Increment(ref requests))
                ?? Fixtures.ArxivPage(papers.Count, start, papers.Skip(start).Take(max)
                    .Select(p => Fixtures.ArxivEntry(id: $"http://arxiv.org/abs/{p.Id}v1", updated: Stamp(p.Updated), published: Stamp(p.Updated))));
            await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(body));
        });
    }

    private static string Stamp(DateTimeOffset at) => at.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);

    private static ArxivApiSource UpdatesSource(string baseUrl, int maxResultsPerPoll = 2_000, TimeSpan deepEvery = default, TimeProvider? clock = null) => new(
        new ArxivApiOptions { BaseUrl = baseUrl + "/api/query", Categories = ["q-bio.PE"], PageSize = 10, MaxResultsPerPoll = maxResultsPerPoll, MinRequestInterval = TimeSpan.FromMilliseconds(1), DeepLookbackEvery = deepEvery },
        new SourceHttp(new HttpClient(), new ArxivApiOptions { MinRequestInterval = TimeSpan.Zero }, new PoliteGate(TimeSpan.FromMilliseconds(1), TimeProvider.System), TimeProvider.System, NullLogger.Instance), clock);

    /// <summary><paramref name="count"/> papers updated one minute apart, the newest <paramref name="newest"/>, newest first.</summary>
    private static List<(string Id, DateTimeOffset Updated)> Updates(int first, int count, DateTimeOffset newest) =>
        Enumerable.Range(0, count).Select(i => ($"2410.{first + count - 1 - i:D5}", newest.AddMinutes(-i))).ToList();

    private static readonly DateTimeOffset Monday = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task More_updates_than_a_poll_may_take_are_taken_over_the_next_polls_and_none_is_skipped()
    {
        var papers = Updates(1, 50, Monday);
        await using var server = await ServeUpdates(() => papers);
        var source = UpdatesSource(server.BaseUrl, maxResultsPerPoll: 30);

        // The first poll has no watermark: the cap bounds it and it ends there.
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        Assert.Equal(30, first.Papers.Count);
        Assert.Equal(Monday, ArxivApiCursor.Read(first.SavedCursor).Watermark);

        // 90 updates after it: three polls of 30, each resuming where the last one stopped.
        papers = [.. Updates(1_001, 90, Monday.AddHours(3)), .. papers];
        var taken = new HashSet<string>();
        var cursor = first.SavedCursor;
        for (var i = 0; i < 10; i++)
        {
            var poll = new RecordingPoll(cursor);
            await source.PollAsync(poll, CancellationToken.None);
            taken.UnionWith(poll.Papers.Keys);
            cursor = poll.SavedCursor;
            if (ArxivApiCursor.Read(cursor).ResumeStart is null)
            {
                break;
            }
        }

        Assert.Equal(Enumerable.Range(1_001, 90).Select(n => $"2410.{n:D5}").Order(), taken.Where(id => id.CompareTo("2410.01000") > 0).Order());
        Assert.Equal(new ArxivApiCursor(Monday.AddHours(3), null, null), ArxivApiCursor.Read(cursor));
    }

    [Fact]
    public async Task A_paper_arxiv_announces_days_after_its_submission_is_taken_from_below_the_watermark()
    {
        // The first poll takes 30 updates, the newest Monday noon: the watermark.
        var papers = Updates(1, 30, Monday);
        await using var server = await ServeUpdates(() => papers);
        var source = UpdatesSource(server.BaseUrl);
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        Assert.Equal(Monday, ArxivApiCursor.Read(first.SavedCursor).Watermark);

        // By the next poll, 20 new updates, and a paper submitted on Saturday that arXiv held and
        // announces only now: dated Saturday, it is listed below everything taken before, four
        // pages under the newest.
        var late = ("2410.09999", Monday.AddDays(-2));
        papers = [.. Updates(1_001, 20, Monday.AddHours(3)), .. papers, late];
        var second = new RecordingPoll(first.SavedCursor);
        await source.PollAsync(second, CancellationToken.None);

        Assert.Contains("2410.09999", second.Papers.Keys);
        Assert.Equal(Enumerable.Range(1_001, 20).Select(n => $"2410.{n:D5}"), second.Papers.Keys.Where(id => id.CompareTo("2410.01000") > 0 && id != "2410.09999").Order());
        Assert.Equal(new ArxivApiCursor(Monday.AddHours(3), null, null), ArxivApiCursor.Read(second.SavedCursor));
    }

    [Fact]
    public async Task A_paper_held_for_moderation_longer_than_the_lookback_is_taken_by_the_daily_deep_poll()
    {
        var clock = new SettableClock(Monday.AddHours(1));
        var papers = Updates(1, 30, Monday);
        await using var server = await ServeUpdates(() => papers);
        var source = UpdatesSource(server.BaseUrl, deepEvery: TimeSpan.FromDays(1), clock: clock);
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        Assert.Equal(Monday.AddHours(1), ArxivApiCursor.Read(first.SavedCursor).DeepPolledAt);

        // Held twelve days, announced now dated by its submission: far below the 5-day lookback.
        var held = ("2410.09998", Monday.AddDays(-12));
        papers = [.. Updates(1_001, 20, Monday.AddHours(3)), .. papers, .. Updates(2_001, 30, Monday.AddDays(-8)), held];
        clock.Now = Monday.AddHours(4);
        var ordinary = new RecordingPoll(first.SavedCursor);
        await source.PollAsync(ordinary, CancellationToken.None);
        Assert.DoesNotContain("2410.09998", ordinary.Papers.Keys);

        // A day after the last deep (here the first) poll, the next one reads 30 days down.
        clock.Now = Monday.AddHours(26);
        var deep = new RecordingPoll(ordinary.SavedCursor);
        await source.PollAsync(deep, CancellationToken.None);

        Assert.Contains("2410.09998", deep.Papers.Keys);
        var cursor = ArxivApiCursor.Read(deep.SavedCursor);
        Assert.Equal((Monday.AddHours(3), Monday.AddHours(26), (int?)null), (cursor.Watermark, cursor.DeepPolledAt, cursor.DeepStart));
    }

    [Fact]
    public async Task A_deep_pass_longer_than_a_poll_goes_on_over_the_next_polls_and_never_holds_back_new_papers()
    {
        var clock = new SettableClock(Monday.AddHours(1));
        var papers = Updates(1, 20, Monday);
        await using var server = await ServeUpdates(() => papers);
        var source = UpdatesSource(server.BaseUrl, maxResultsPerPoll: 100, deepEvery: TimeSpan.FromDays(1), clock: clock);
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);

        // Two weeks of older updates under the 20 (60 of them), one held paper at the very bottom.
        var held = ("2410.09997", Monday.AddDays(-20));
        papers = [.. papers, .. Updates(3_001, 60, Monday.AddDays(-6)).Select((p, i) => (p.Id, p.Updated.AddHours(-4 * i))), held];
        clock.Now = Monday.AddDays(1).AddHours(2);
        var cursor = first.SavedCursor;
        var taken = new HashSet<string>();
        for (var poll = 0; poll < 8; poll++)
        {
            // Each poll: ten new papers on top, which that same poll takes whatever the deep pass is doing.
            var fresh = Updates(10_000 + poll * 10, 10, clock.Now.AddMinutes(-1));
            papers = [.. fresh, .. papers];
            var recording = new RecordingPoll(cursor);
            await source.PollAsync(recording, CancellationToken.None);
            Assert.All(fresh, f => Assert.Contains(f.Id, recording.Papers.Keys));
            taken.UnionWith(recording.Papers.Keys);
            cursor = recording.SavedCursor;
            clock.Now = clock.Now.AddHours(6);
            if (ArxivApiCursor.Read(cursor).DeepStart is null && taken.Contains("2410.09997"))
            {
                break;
            }
        }

        Assert.Contains("2410.09997", taken);
        Assert.Null(ArxivApiCursor.Read(cursor).DeepStart);
    }

    [Fact]
    public async Task A_deep_pass_whose_estimate_overshoots_steps_back_by_date_and_skips_nothing()
    {
        // New submissions arrive while a poll is under way, after its ordinary pass read the top
        // and before its deep pass read its place: the next poll counts them as added above the
        // deep pass's place, though that place was measured with them. The estimate then lies
        // below the place; the pass finds out by date and steps back.
        var clock = new SettableClock(Monday.AddHours(1));
        var papers = Updates(1, 20, Monday);
        Action<int>? onRequest = null;
        await using var server = await ServeUpdates(() => papers, (_, request) =>
        {
            onRequest?.Invoke(request);
            return null;
        });
        var source = UpdatesSource(server.BaseUrl, maxResultsPerPoll: 60, deepEvery: TimeSpan.FromDays(1), clock: clock);
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        var older = Updates(3_001, 80, Monday.AddDays(-6)).Select((p, i) => (p.Id, Updated: p.Updated.AddHours(-4 * i))).ToList();
        papers = [.. papers, .. older];
        clock.Now = Monday.AddDays(1).AddHours(2);

        var taken = new HashSet<string>();
        var cursor = first.SavedCursor;
        var requests = server.Requests.Count;
        // In the first deep poll, 25 new submissions land on top right after its fourth request.
        onRequest = request =>
        {
            if (request == requests + 4)
            {
                papers = [.. Updates(20_001, 25, clock.Now.AddMinutes(-2)), .. papers];
            }
        };
        var history = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var recording = new RecordingPoll(cursor);
            await source.PollAsync(recording, CancellationToken.None);
            taken.UnionWith(recording.Papers.Keys);
            cursor = recording.SavedCursor;
            history.Add($"{recording.Papers.Count}: {cursor}");
            onRequest = null;
            clock.Now = clock.Now.AddHours(6);
            if (ArxivApiCursor.Read(cursor).DeepStart is null && i > 0)
            {
                break;
            }
        }

        var missed = older.Select(p => p.Id).Except(taken).ToArray();
        Assert.True(missed.Length == 0, $"the deep pass skipped {string.Join(", ", missed)}; cursors: {string.Join(" | ", history)}");
        Assert.Null(ArxivApiCursor.Read(cursor).DeepStart);
    }

    [Fact]
    public async Task An_empty_answer_to_the_deep_pass_is_asked_again_and_the_pass_goes_on()
    {
        var clock = new SettableClock(Monday.AddHours(1));
        var papers = Updates(1, 20, Monday);
        var emptied = 0;
        await using var server = await ServeUpdates(() => papers,
            (start, _) => start == 49 && Interlocked.Increment(ref emptied) == 1 ? Fixtures.ArxivPage(papers.Count, start, []) : null);
        var source = UpdatesSource(server.BaseUrl, deepEvery: TimeSpan.FromDays(1), clock: clock);
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        var held = ("2410.09996", Monday.AddDays(-20));
        papers = [.. papers, .. Updates(3_001, 40, Monday.AddDays(-6)).Select((p, i) => (p.Id, Updated: p.Updated.AddHours(-3 * i))), held];
        clock.Now = Monday.AddDays(1).AddHours(2);

        var deep = new RecordingPoll(first.SavedCursor);
        await source.PollAsync(deep, CancellationToken.None);

        Assert.True(emptied >= 2, "the deep pass did not ask for the emptied page again");
        Assert.Contains("2410.09996", deep.Papers.Keys);
        Assert.Null(ArxivApiCursor.Read(deep.SavedCursor).DeepStart);
    }

    [Fact]
    public async Task A_deep_pass_that_fails_keeps_what_the_ordinary_pass_of_its_poll_took()
    {
        var clock = new SettableClock(Monday.AddHours(1));
        var papers = Updates(1, 20, Monday);
        var deepBroken = false;
        await using var server = await ServeUpdates(() => papers, (start, _) => deepBroken && start >= 40 ? "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>" : null);
        var source = UpdatesSource(server.BaseUrl, deepEvery: TimeSpan.FromDays(1), clock: clock);
        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);

        papers = [.. Updates(1_001, 10, Monday.AddDays(1)), .. papers, .. Updates(3_001, 40, Monday.AddDays(-6))];
        clock.Now = Monday.AddDays(1).AddHours(2);
        deepBroken = true;
        var poll = new RecordingPoll(first.SavedCursor);
        await Assert.ThrowsAnyAsync<Exception>(() => source.PollAsync(poll, CancellationToken.None));

        // The ordinary pass's ten new papers were taken and its watermark saved: the next poll
        // starts from the top, not from the broken deep page.
        Assert.Equal(10, poll.Papers.Keys.Count(id => id.StartsWith("2410.010", StringComparison.Ordinal)));
        var saved = ArxivApiCursor.Read(poll.SavedCursor);
        Assert.Equal((Monday.AddDays(1), (int?)null), (saved.Watermark, saved.ResumeStart));
    }

    [Fact]
    public async Task A_watermark_pinned_ahead_of_now_by_an_earlier_version_is_brought_back()
    {
        var clock = new SettableClock(Monday.AddHours(4));
        var papers = Updates(1, 40, Monday.AddHours(3));
        await using var server = await ServeUpdates(() => papers);
        var source = UpdatesSource(server.BaseUrl, clock: clock);
        var pinned = new ArxivApiCursor(Monday.AddYears(3), null, null).Write();

        var poll = new RecordingPoll(pinned);
        await source.PollAsync(poll, CancellationToken.None);

        // Read down to the lookback below now, not stopped after the first page; the watermark is now.
        Assert.Equal(40, poll.Papers.Count);
        Assert.Equal(Monday.AddHours(4), ArxivApiCursor.Read(poll.SavedCursor).Watermark);
    }

    [Fact]
    public async Task An_entry_dated_in_the_future_does_not_pin_the_watermark()
    {
        var clock = new SettableClock(Monday.AddHours(1));
        // A wrong date in the feed puts one entry first, years ahead.
        var papers = new List<(string Id, DateTimeOffset Updated)> { ("2410.07777", Monday.AddYears(3)) };
        papers.AddRange(Updates(1, 30, Monday));
        await using var server = await ServeUpdates(() => papers);
        var source = UpdatesSource(server.BaseUrl, clock: clock);

        var first = new RecordingPoll();
        await source.PollAsync(first, CancellationToken.None);
        Assert.Equal(Monday, ArxivApiCursor.Read(first.SavedCursor).Watermark);

        // Later updates are still taken: the watermark was not set three years ahead.
        papers = [papers[0], .. Updates(1_001, 25, Monday.AddHours(3)), .. papers.Skip(1)];
        clock.Now = Monday.AddHours(4);
        var second = new RecordingPoll(first.SavedCursor);
        await source.PollAsync(second, CancellationToken.None);
        Assert.Equal(25, second.Papers.Keys.Count(id => id.CompareTo("2410.01000") > 0 && id != "2410.07777"));
        Assert.Equal(Monday.AddHours(3), ArxivApiCursor.Read(second.SavedCursor).Watermark);
    }

    [Fact]
    public async Task Another_sort_order_fails_the_poll_with_the_setting_named()
    {
        var source = new ArxivApiSource(new ArxivApiOptions { Categories = ["cs.LG"], SortBy = "submittedDate" }, null!);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => source.PollAsync(new RecordingPoll(), CancellationToken.None));

        Assert.Contains("Sources:ArxivApi:SortBy", e.Message);
    }

    private sealed class SettableClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task An_empty_page_arxiv_answers_by_mistake_is_asked_again_and_the_poll_goes_on()
    {
        var papers = Updates(1, 50, Monday);
        // The second request (start 10) answers an empty page that still says 50 results.
        await using var server = await ServeUpdates(() => papers, (start, request) => request == 2 ? Fixtures.ArxivPage(50, start, []) : null);
        var poll = new RecordingPoll();

        await UpdatesSource(server.BaseUrl).PollAsync(poll, CancellationToken.None);

        Assert.Equal(50, poll.Papers.Count);
        Assert.Equal(new ArxivApiCursor(Monday, null, null), ArxivApiCursor.Read(poll.SavedCursor));
    }

    [Fact]
    public async Task Empty_pages_before_the_last_result_fail_the_poll_and_the_next_poll_asks_for_that_page_again()
    {
        var papers = Updates(1, 50, Monday);
        var broken = true;
        await using var server = await ServeUpdates(() => papers, (start, _) => broken && start == 20 ? Fixtures.ArxivPage(50, start, []) : null);
        var source = UpdatesSource(server.BaseUrl);

        var first = new RecordingPoll();
        var error = await Assert.ThrowsAsync<SourceErrorException>(() => source.PollAsync(first, CancellationToken.None));

        Assert.Contains("empty page at start 20 of 50 results", error.Message);
        Assert.Equal(20, first.Papers.Count);
        Assert.Equal(new ArxivApiCursor(null, 20, Monday) { EmptyPolls = 1 }, ArxivApiCursor.Read(first.SavedCursor));

        broken = false;
        var second = new RecordingPoll(first.SavedCursor);
        await source.PollAsync(second, CancellationToken.None);

        Assert.Equal(30, second.Papers.Count);
        Assert.Equal(50, first.Papers.Keys.Union(second.Papers.Keys).Count());
        Assert.Equal(new ArxivApiCursor(Monday, null, null), ArxivApiCursor.Read(second.SavedCursor));
    }

    [Fact]
    public async Task A_page_arxiv_never_answers_is_skipped_after_three_polls_and_the_source_goes_on()
    {
        var papers = Updates(1, 50, Monday);
        await using var server = await ServeUpdates(() => papers, (start, _) => start == 20 ? Fixtures.ArxivPage(50, start, []) : null);
        var source = UpdatesSource(server.BaseUrl);
        var taken = new HashSet<string>();
        string? cursor = null;
        var errors = new List<string>();
        for (var n = 0; n < ArxivApiSource.PollsOnAnEmptyPage; n++)
        {
            var failed = new RecordingPoll(cursor);
            errors.Add((await Assert.ThrowsAsync<SourceErrorException>(() => source.PollAsync(failed, CancellationToken.None))).Message);
            taken.UnionWith(failed.Papers.Keys);
            cursor = failed.SavedCursor;
        }

        var after = new RecordingPoll(cursor);
        await source.PollAsync(after, CancellationToken.None);
        taken.UnionWith(after.Papers.Keys);

        Assert.Contains("the next poll asks for it again", errors[0]);
        Assert.Contains("entries 20 to 29 of this listing are skipped", errors[^1]);
        Assert.Equal(40, taken.Count); // all but the ten behind the page arXiv never answered
        Assert.Equal(20, after.Papers.Count);
        Assert.Equal(new ArxivApiCursor(Monday, null, null), ArxivApiCursor.Read(after.SavedCursor));
    }

    [Fact]
    public void Categories_and_query_make_one_search_query()
    {
        var source = new ArxivApiSource(new ArxivApiOptions { Categories = ["cs.LG", "cs.CL"], Query = "abs:diffusion" }, null!);
        Assert.Equal("(cat:cs.LG OR cat:cs.CL) AND (abs:diffusion)", source.SearchQuery());
        Assert.Contains("sortBy=lastUpdatedDate&sortOrder=descending", source.PageUrl(0, 100).ToString());
    }
}

public class SourcesOptionsSpecs
{
    [Fact]
    public void Another_sort_order_of_an_enabled_arxiv_source_stops_ingest_at_start_naming_the_setting()
    {
        var options = new SourcesOptions { ArxivApi = { Enabled = true, Categories = ["cs.LG"], SortBy = "submittedDate" } };

        var result = new SourcesOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Sources:ArxivApi:SortBy", result.FailureMessage);
        // Disabled, or sorted as the cursor needs: nothing to say.
        Assert.True(new SourcesOptionsValidator().Validate(null, new SourcesOptions { ArxivApi = { Enabled = false, SortBy = "relevance" } }).Succeeded);
        Assert.True(new SourcesOptionsValidator().Validate(null, new SourcesOptions { ArxivApi = { Enabled = true, SortBy = "LastUpdatedDate" } }).Succeeded);
    }
}
