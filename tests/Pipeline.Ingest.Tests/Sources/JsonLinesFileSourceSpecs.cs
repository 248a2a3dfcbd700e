using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Tests.Intake;
using Pipeline.Testing;

namespace Pipeline.Ingest.Tests.Sources;

/// <summary>The JSON Lines source through the runner and the real intake (redis-server, in-memory bus).</summary>
public sealed class JsonLinesFileSourceSpecs : IAsyncLifetime
{
    private readonly IntakeHarness _ingest = new();
    private readonly string _path = Path.Combine(TestArtifacts.NewDirectory("jsonl"), "papers.jsonl");

    public Task InitializeAsync() => _ingest.InitializeAsync();

    public Task DisposeAsync() => _ingest.DisposeAsync();

    private static string Line(string id, string title = "Listening to honeybee hives") =>
        $$"""{"id": "{{id}}", "title": "{{title}}", "abstract": "We record the hum of the hive.", "authors": ["Ada Lovelace"], "publishedAt": "2024-10-22T00:00:00Z"}""" + "\n";

    [Fact]
    public async Task A_line_with_a_malformed_id_is_rejected_alone_and_later_polls_go_on_past_it()
    {
        await File.WriteAllTextAsync(_path, Line("2410.00001") + Line("2410.17243v\u0661") + Line("2410.00003"));
        var runner = _ingest.Runner(new JsonLinesFileSource(new JsonLinesOptions { Enabled = true, Path = _path }));
        var source = runner.Sources[0];

        var first = await runner.RunAsync(source, CancellationToken.None);

        Assert.True(first.LastRunOk, first.LastError);
        Assert.Equal((2, 1), (first.Counts.New, first.Counts.Rejected));
        var rejection = Assert.Single(first.Rejections);
        Assert.Equal("line 2", rejection.Entry);
        Assert.Contains("is neither an arXiv id", rejection.Reason);

        await File.AppendAllTextAsync(_path, Line("2410.00004"));
        var second = await runner.RunAsync(source, CancellationToken.None);

        Assert.True(second.LastRunOk, second.LastError);
        Assert.Equal((1, 0), (second.Counts.New, second.Counts.Rejected));
        Assert.NotNull(await _ingest.Store.GetAsync("2410.00004"));
    }

    [Fact]
    public async Task A_file_replaced_by_a_longer_one_with_new_papers_first_is_read_from_its_start()
    {
        // A nightly export rewritten newest first (written elsewhere, then moved over the old file):
        // the new papers are in the bytes the last poll had already passed.
        await File.WriteAllTextAsync(_path, Line("2410.00011") + Line("2410.00012"));
        var runner = _ingest.Runner(new JsonLinesFileSource(new JsonLinesOptions { Enabled = true, Path = _path }));
        var source = runner.Sources[0];
        Assert.Equal(2, (await runner.RunAsync(source, CancellationToken.None)).Counts.New);

        var rewritten = _path + ".tmp";
        await File.WriteAllTextAsync(rewritten, Line("2410.00015") + Line("2410.00014") + Line("2410.00013") + Line("2410.00012") + Line("2410.00011"));
        File.Move(rewritten, _path, overwrite: true);
        var second = await runner.RunAsync(source, CancellationToken.None);

        Assert.True(second.LastRunOk, second.LastError);
        Assert.Equal((3, 2, 0), (second.Counts.New, second.Counts.Duplicate, second.Counts.Rejected));
        foreach (var id in new[] { "2410.00013", "2410.00014", "2410.00015" })
        {
            Assert.NotNull(await _ingest.Store.GetAsync(id));
        }

        // Lines appended after that are still taken alone.
        await File.AppendAllTextAsync(_path, Line("2410.00016"));
        Assert.Equal((1, 0), ((await runner.RunAsync(source, CancellationToken.None)).Counts.New, (await runner.RunAsync(source, CancellationToken.None)).Counts.New));
    }

    [Fact]
    public async Task A_rejection_after_a_line_taken_before_its_newline_names_its_own_line()
    {
        // The writer had not yet ended line 1 when the poll took it; then it ends it and writes a bad line 2.
        await File.WriteAllTextAsync(_path, Line("2410.00031").TrimEnd('\n'));
        var runner = _ingest.Runner(new JsonLinesFileSource(new JsonLinesOptions { Enabled = true, Path = _path }));
        var source = runner.Sources[0];
        Assert.Equal(1, (await runner.RunAsync(source, CancellationToken.None)).Counts.New);
        // Polls that find nothing new in between count nothing.
        Assert.Equal(0, (await runner.RunAsync(source, CancellationToken.None)).Counts.New);
        Assert.Equal(0, (await runner.RunAsync(source, CancellationToken.None)).Counts.New);

        await File.AppendAllTextAsync(_path, "\n{\"id\": \"2410.00032\"}\n" + Line("2410.00033"));
        var second = await runner.RunAsync(source, CancellationToken.None);

        Assert.Equal((1, 1), (second.Counts.New, second.Counts.Rejected));
        Assert.Equal("line 2", Assert.Single(second.Rejections).Entry);
    }

    [Fact]
    public async Task A_file_that_starts_with_a_byte_order_mark_loses_no_paper()
    {
        // Windows PowerShell's Out-File -Encoding utf8 and Python's utf-8-sig write one.
        await File.WriteAllBytesAsync(_path, [.. "\uFEFF"u8, .. System.Text.Encoding.UTF8.GetBytes(Line("2410.00021") + Line("2410.00022"))]);
        var runner = _ingest.Runner(new JsonLinesFileSource(new JsonLinesOptions { Enabled = true, Path = _path }));

        var state = await runner.RunAsync(runner.Sources[0], CancellationToken.None);

        Assert.True(state.LastRunOk, state.LastError);
        Assert.Equal((2, 0), (state.Counts.New, state.Counts.Rejected));
        Assert.NotNull(await _ingest.Store.GetAsync("2410.00021"));
    }

    [Fact]
    public async Task Two_versions_of_a_paper_in_one_batch_of_lines_store_the_newer_one()
    {
        await File.WriteAllTextAsync(_path, Line("2410.00001v1", "Version one") + Line("2410.00002") + Line("2410.00001v2", "Version two"));
        var runner = _ingest.Runner(new JsonLinesFileSource(new JsonLinesOptions { Enabled = true, Path = _path }));

        var state = await runner.RunAsync(runner.Sources[0], CancellationToken.None);

        Assert.True(state.LastRunOk, state.LastError);
        Assert.Equal((2, 1, 0), (state.Counts.New, state.Counts.Duplicate, state.Counts.Rejected));
        var stored = await _ingest.Store.GetAsync("2410.00001");
        Assert.Equal((2, "Version two"), (stored!.Paper.Version, stored.Paper.Title));
    }
}
