using System.Text;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Sources.Parsing;
using Pipeline.Testing;

namespace Pipeline.Ingest.Tests.Sources;

/// <summary>
/// A body or file of junk cannot make ingest hold millions of rejections: a feed body with more
/// entries than any real page is refused as a whole, and a JSON Lines file's bad lines are handed on
/// a batch at a time.
/// </summary>
public sealed class BoundedRejectionsSpecs
{
    [Fact]
    public void A_daily_papers_body_with_more_items_than_any_page_is_refused_as_a_whole()
    {
        var body = Encoding.UTF8.GetBytes("[" + string.Join(',', Enumerable.Repeat("0", ParsedFeed.MaxEntries + 1)) + "]");

        var e = Assert.Throws<FeedFormatException>(() => HuggingFaceDailyParser.Parse(body, new DateOnly(2026, 11, 27)));

        Assert.Contains("more than 20,000 entries", e.Message);
    }

    [Fact]
    public void An_arxiv_api_body_with_more_entries_than_any_page_is_refused_as_a_whole()
    {
        var entries = Enumerable.Repeat("<entry><id>x</id></entry>\n", ParsedFeed.MaxEntries + 1);

        var e = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(Fixtures.Stream(Fixtures.ArxivFeed([.. entries]))));

        Assert.Contains("more than 20,000 entries", e.Message);
    }

    [Fact]
    public async Task A_file_of_bad_lines_is_handed_on_a_batch_at_a_time()
    {
        var path = Path.Combine(TestArtifacts.NewDirectory("jsonl-junk"), "papers.jsonl");
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat("x\n", 5_000)));
        var source = new JsonLinesFileSource(new JsonLinesOptions { Enabled = true, Path = path, BatchSize = 100 });
        var poll = new RecordingPoll();

        await source.PollAsync(poll, CancellationToken.None);

        Assert.Equal(5_000, poll.Rejections.Count);
        Assert.All(poll.RejectCalls, n => Assert.InRange(n, 0, 100));
        Assert.Equal("line 5000", poll.Rejections[^1].Entry);
    }
}
