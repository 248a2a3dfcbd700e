using Google.Protobuf.WellKnownTypes;
using Pipeline.Ingest.Grpc;
using Pipeline.Ingest.Papers;
using ProtoPaper = Pipeline.Contracts.Ingest.V1.Paper;
using static Pipeline.Ingest.Tests.Intake.IntakeHarness;

namespace Pipeline.Ingest.Tests.Intake;

/// <summary>
/// <see cref="PaperIntake"/> against a real redis-server and an in-memory bus: what a batch of
/// SubmitPapers, ImportPapers or a source's page stores and announces, paper by paper.
/// </summary>
public sealed class PaperIntakeSpecs : IAsyncLifetime
{
    private readonly IntakeHarness _ingest = new();

    public Task InitializeAsync() => _ingest.InitializeAsync();

    public Task DisposeAsync() => _ingest.DisposeAsync();

    [Fact]
    public async Task A_malformed_id_is_rejected_alone_and_the_rest_of_the_batch_is_stored_and_announced()
    {
        var results = await _ingest.Intake.SubmitAsync(
            [Paper("2410.00001"), Paper("2410.17243v\u0661"), Paper("2410.00003")], CancellationToken.None);

        Assert.Equal([IntakeOutcome.Accepted, IntakeOutcome.Rejected, IntakeOutcome.Accepted], results.Select(r => r.Outcome));
        Assert.StartsWith("id '2410.17243v\u0661' is neither an arXiv id", results[1].Reason);
        Assert.NotNull(await _ingest.Store.GetAsync("2410.00001"));
        Assert.NotNull(await _ingest.Store.GetAsync("2410.00003"));
        Assert.Equal(["2410.00001", "2410.00003"], _ingest.Published.Select(p => p.Paper.Id));
    }

    [Fact]
    public async Task A_paper_with_an_invalid_timestamp_is_rejected_alone_and_the_rest_of_the_call_is_stored()
    {
        static ProtoPaper Proto(string id) => new()
        {
            Id = id, Title = "Listening to honeybee hives", Abstract = "We record the hum of the hive.", Authors = { "Ada Lovelace" },
            PublishedAt = Timestamp.FromDateTimeOffset(new DateTimeOffset(2024, 10, 22, 0, 0, 0, TimeSpan.Zero)),
        };
        var afterYear9999 = Proto("2410.00002");
        afterYear9999.PublishedAt = new Timestamp { Seconds = 253_402_300_800 };
        var badNanos = Proto("2410.00003");
        badNanos.Metadata = new() { UpdatedAt = new Timestamp { Seconds = 1_729_555_200, Nanos = -1 } };
        var badFeaturing = Proto("2410.00005");
        badFeaturing.Metadata = new() { FeaturedAt = new Timestamp { Seconds = -62_135_596_801 } };
        ProtoPaper[] call = [Proto("2410.00001"), afterYear9999, badNanos, Proto("2410.00004"), badFeaturing];

        // What SubmitPapers and ImportPapers do with each paper of a call or stream.
        var results = await _ingest.Intake.SubmitAsync(call.Select(PaperMapping.ToSubmission).ToArray(), CancellationToken.None);

        Assert.Equal([IntakeOutcome.Accepted, IntakeOutcome.Rejected, IntakeOutcome.Rejected, IntakeOutcome.Accepted, IntakeOutcome.Rejected], results.Select(r => r.Outcome));
        Assert.Equal(("2410.00002", "published_at is not a valid timestamp (years 1 to 9999, nanos 0 to 999999999)"), (results[1].Id, results[1].Reason));
        Assert.Equal(("2410.00003", "metadata.updated_at is not a valid timestamp (years 1 to 9999, nanos 0 to 999999999)"), (results[2].Id, results[2].Reason));
        Assert.Equal(("2410.00005", "metadata.featured_at is not a valid timestamp (years 1 to 9999, nanos 0 to 999999999)"), (results[4].Id, results[4].Reason));
        Assert.Equal(["2410.00001", "2410.00004"], _ingest.Published.Select(p => p.Paper.Id));
        Assert.Null(await _ingest.Store.GetAsync("2410.00002"));
    }

    [Fact]
    public async Task A_paper_dated_more_than_a_day_ahead_is_rejected_with_the_date_and_one_dated_today_is_taken()
    {
        var now = DateTimeOffset.UtcNow;
        var featuredNextWeek = Paper("2410.00004", publishedAt: now.AddDays(-2)) with
        {
            Metadata = new Pipeline.Contracts.Messages.PaperMetadata(FeaturedOn: DateOnly.FromDateTime(now.UtcDateTime), FeaturedAt: now.AddDays(7)),
        };

        var featuredIn2099 = Paper("2410.00005", publishedAt: now.AddDays(-2)) with { Metadata = new Pipeline.Contracts.Messages.PaperMetadata(FeaturedOn: new DateOnly(2099, 1, 1)) };
        var featuredTomorrow = Paper("2410.00006", publishedAt: now.AddDays(-2)) with
        {
            Metadata = new Pipeline.Contracts.Messages.PaperMetadata(FeaturedOn: DateOnly.FromDateTime(now.UtcDateTime).AddDays(1)),
        };

        var results = await _ingest.Intake.SubmitAsync(
        [
            Paper("2410.00001", publishedAt: now.AddHours(20)), // a date in a time zone ahead of UTC
            Paper("2410.00002", publishedAt: now.AddYears(4)),
            Paper("2410.00003", publishedAt: now.AddHours(-1)),
            featuredNextWeek,
            featuredIn2099,
            featuredTomorrow, // tomorrow's list in a time zone ahead of UTC
        ], CancellationToken.None);

        Assert.Equal(
            [IntakeOutcome.Accepted, IntakeOutcome.Rejected, IntakeOutcome.Accepted, IntakeOutcome.Rejected, IntakeOutcome.Rejected, IntakeOutcome.Accepted],
            results.Select(r => r.Outcome));
        Assert.StartsWith("metadata.featured_on 2099-01-01 is in the future", results[4].Reason);
        Assert.Matches(@"^published_at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ is in the future \(more than a day after .+Z\)$", results[1].Reason);
        Assert.StartsWith("metadata.featured_at ", results[3].Reason);
        Assert.Contains("is in the future", results[3].Reason);
        Assert.Equal(["2410.00001", "2410.00003", "2410.00006"], _ingest.Published.Select(p => p.Paper.Id));
        Assert.Null(await _ingest.Store.GetAsync("2410.00002"));
    }

    [Fact]
    public async Task Every_event_of_a_paper_says_when_ingest_first_stored_it()
    {
        await _ingest.Intake.SubmitAsync([Paper("local:hive", title: "Listening to honeybee hives")], CancellationToken.None);
        await Task.Delay(20);
        await _ingest.Intake.SubmitAsync([Paper("local:hive", title: "Listening to honeybee hives, corrected")], CancellationToken.None);

        var (first, update) = (_ingest.Published[0], _ingest.Published[1]);
        Assert.Equal((false, true), (first.IsUpdate, update.IsUpdate));
        Assert.Equal(first.IngestedAt, first.FirstIngestedAt);
        // The update is stored later, and the paper was first stored when it was first stored.
        Assert.True(update.IngestedAt > first.IngestedAt);
        Assert.Equal(first.IngestedAt.ToUnixTimeMilliseconds(), update.FirstIngestedAt!.Value.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Two_versions_of_one_paper_in_a_batch_store_the_newest_and_the_other_is_a_duplicate_not_an_error()
    {
        var results = await _ingest.Intake.SubmitAsync(
        [
            Paper("2410.00001v2", title: "Version two"),
            Paper("2410.00002"),
            Paper("2410.00001v3", title: "Version three"),
            Paper("2410.00001v1", title: "Version one"),
            Paper("2410.00003", title: "Sent first"),
            Paper("2410.00003", title: "Sent last"),
        ], CancellationToken.None);

        Assert.Equal(
            [IntakeOutcome.Duplicate, IntakeOutcome.Accepted, IntakeOutcome.Accepted, IntakeOutcome.Duplicate, IntakeOutcome.Duplicate, IntakeOutcome.Accepted],
            results.Select(r => r.Outcome));
        Assert.Equal([0, 1, 2, 3, 4, 5], results.Select(r => r.Index));
        Assert.Contains("superseded within this request by version 3", results[0].Reason);
        Assert.Contains("combined within this request with entry 5", results[4].Reason);
        Assert.Equal(
            ["2410.00001 v3 Version three", "2410.00002 v0 Listening to honeybee hives", "2410.00003 v0 Sent last"],
            _ingest.Published.Select(p => $"{p.Paper.Id} v{p.Paper.Version} {p.Paper.Title}").Order(StringComparer.Ordinal));
        var stored = await _ingest.Store.GetAsync("2410.00001");
        Assert.Equal((3, "Version three"), (stored!.Paper.Version, stored.Paper.Title));
    }

    [Fact]
    public async Task The_same_paper_from_arxiv_and_hugging_face_at_once_keeps_arxivs_record_and_the_upvotes()
    {
        var fromArxiv = Paper("2410.17243v1", title: "Breaking the Memory Barrier", source: "arxiv-api");
        var fromHuggingFace = Paper("2410.17243", title: "Breaking the Memory Barrier (HF copy)", source: "huggingface") with { Upvotes = 88 };

        // Both calls read what is held before either stores: Redis answers neither until both asked.
        _ingest.Redis.Pause();
        Task<IReadOnlyList<IntakeResult>> arxiv, huggingFace;
        try
        {
            arxiv = _ingest.Intake.SubmitAsync([fromArxiv], CancellationToken.None);
            huggingFace = _ingest.Intake.SubmitAsync([fromHuggingFace], CancellationToken.None);
            await Task.Delay(300);
        }
        finally
        {
            _ingest.Redis.Resume();
        }

        await Task.WhenAll(arxiv, huggingFace).WaitAsync(TimeSpan.FromSeconds(20));

        var stored = await _ingest.Store.GetAsync("2410.17243");
        Assert.Equal(("Breaking the Memory Barrier", "arxiv-api", 88, true), (stored!.Paper.Title, stored.Paper.Source, stored.Paper.Upvotes, stored.Published));
        // What went out last is what is stored: rank keeps the last event of a paper.
        Assert.Equal(stored.Fingerprint, PaperFingerprint.Record(_ingest.Published[^1].Paper));
    }

    [Fact]
    public async Task Arxivs_record_and_hugging_faces_upvotes_in_one_batch_are_both_kept_whatever_their_order()
    {
        // One import holding arXiv's version 2 and Hugging Face's record of the same paper: the
        // upvotes used to be dropped as "superseded", though two calls would have kept them.
        var results = await _ingest.Intake.SubmitAsync(
        [
            Paper("2410.17243v2", title: "Breaking the Memory Barrier", source: "arxiv-api"),
            Paper("2410.17243", title: "Breaking the Memory Barrier (HF copy)", source: "huggingface") with { Upvotes = 88 },
            Paper("2410.20000", title: "HF first", source: "huggingface") with { Upvotes = 12 },
            Paper("2410.20000v1", title: "arXiv after", source: "arxiv-api"),
        ], CancellationToken.None);

        Assert.Equal([IntakeOutcome.Accepted, IntakeOutcome.Duplicate, IntakeOutcome.Duplicate, IntakeOutcome.Accepted], results.Select(r => r.Outcome));
        Assert.Contains("combined within this request with entry 0", results[1].Reason);
        var first = await _ingest.Store.GetAsync("2410.17243");
        Assert.Equal(("Breaking the Memory Barrier", 2, 88), (first!.Paper.Title, first.Paper.Version, first.Paper.Upvotes));
        var second = await _ingest.Store.GetAsync("2410.20000");
        Assert.Equal(("arXiv after", 1, 12), (second!.Paper.Title, second.Paper.Version, second.Paper.Upvotes));
    }

    [Fact]
    public async Task A_later_entry_of_the_same_version_corrects_an_earlier_one_and_an_older_version_after_a_newer_is_superseded()
    {
        var results = await _ingest.Intake.SubmitAsync(
        [
            Paper("2410.30000v1", title: "Typo in the titel"),
            Paper("2410.30000", title: "Typo in the title, fixed"),
            Paper("2410.40000v2", title: "Version two"),
            Paper("2410.40000v1", title: "Version one, sent late"),
        ], CancellationToken.None);

        // Answered at the versioned entry, with the correction combined into it.
        Assert.Equal([IntakeOutcome.Accepted, IntakeOutcome.Duplicate, IntakeOutcome.Accepted, IntakeOutcome.Duplicate], results.Select(r => r.Outcome));
        Assert.Contains("combined within this request with entry 0", results[1].Reason);
        Assert.Equal(("Typo in the title, fixed", 1), ((await _ingest.Store.GetAsync("2410.30000"))!.Paper.Title, (await _ingest.Store.GetAsync("2410.30000"))!.Paper.Version));
        Assert.Contains("superseded within this request by version 2", results[3].Reason);
        Assert.Equal("Version two", (await _ingest.Store.GetAsync("2410.40000"))!.Paper.Title);
    }
}
