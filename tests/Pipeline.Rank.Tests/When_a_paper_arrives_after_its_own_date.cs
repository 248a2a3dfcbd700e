using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// arXiv's API dates a paper by its submission, and arXiv announces it a day to four days later:
/// the paper reaches rank after its own date. Windows (a digest's <c>since</c>, Trending's day)
/// count it from its arrival, so a digest asking for what came since the last one gets it; an old
/// paper imported late keeps its own date.
/// </summary>
public class When_a_paper_arrives_after_its_own_date
{
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 15, 0, 0, TimeSpan.Zero);

    private static IndexedPaper Paper(string id, TimeSpan publishedAgo, DateTimeOffset? firstIngested, DateTimeOffset? arrived = null) =>
        new(new PaperSummary(id, 1, "Title " + id, "Abstract", [], ["cs.LG"], Now - publishedAgo, "https://arxiv.org/abs/" + id, "arxiv-api", 3), firstIngested ?? Now)
        {
            FirstIngestedAt = firstIngested, ArrivedAt = arrived,
        };

    [Fact]
    public void It_is_in_the_windows_from_its_arrival_with_its_age_from_its_own_date()
    {
        var papers = new PaperIndex();
        var announced = Paper("announced", TimeSpan.FromHours(50), Now.AddMinutes(-30), arrived: Now.AddMinutes(-29));
        var onTime = Paper("on-time", TimeSpan.FromHours(60), Now.AddHours(-59));
        papers.Upsert(announced, PaperIndexSpecs.Unit((0, 1)));
        papers.Upsert(onTime, PaperIndexSpecs.Unit((1, 1)));

        Assert.Equal(["announced"], papers.SeenSince(Now.AddHours(-1)).Select(p => p.Paper.Id));
        Assert.Equal(["announced"], papers.Top([PaperIndexSpecs.Unit((0, 1), (1, 1))], 10, seenSince: Now.AddHours(-1)).Select(s => s.Paper.Paper.Id));
        var day = new TrendingBoard(papers, new Feedback()).Top(TrendingWindowKind.Day, "", 10, Now);
        Assert.Equal("3 upvotes in 2 days", Assert.Single(day).Reason(Now));
    }

    [Fact]
    public void Rank_counts_from_its_own_arrival_else_from_ingests_first_storing()
    {
        // Indexed by this process a minute after ingest stored it (embedding took that long).
        Assert.Equal(Now.AddMinutes(-29), Paper("a", TimeSpan.FromHours(50), Now.AddMinutes(-30), arrived: Now.AddMinutes(-29)).WindowAt);
        // Loaded from rank's Redis after a restart: ingest's time stands for it.
        Assert.Equal(Now.AddMinutes(-30), Paper("b", TimeSpan.FromHours(50), Now.AddMinutes(-30)).WindowAt);
    }

    [Fact]
    public void An_old_paper_imported_now_keeps_its_own_date()
    {
        var imported = Paper("imported", TimeSpan.FromDays(20), Now, arrived: Now);

        Assert.Equal(Now.AddDays(-20), imported.WindowAt);
        Assert.Equal(imported.SeenAt, imported.WindowAt);
    }

    [Fact]
    public void Only_a_paper_that_is_news_may_raise_an_instant_alert()
    {
        // Announced today with a submission date three days old: news.
        Assert.True(Paper("announced", TimeSpan.FromDays(3), Now.AddMinutes(-5), arrived: Now.AddMinutes(-4)).IsNewsAt(Now));
        // A backfill of last year's papers: not news, whenever it arrives.
        Assert.False(Paper("imported", TimeSpan.FromDays(400), Now, arrived: Now).IsNewsAt(Now));
        // New upvotes of a paper that arrived three weeks ago: not news any more.
        Assert.False(Paper("old news", TimeSpan.FromDays(22), Now.AddDays(-21), arrived: Now.AddDays(-21)).IsNewsAt(Now));
        // A paper of last month that a daily-papers site features today: news, as on the site.
        var featured = new IndexedPaper(new PaperSummary("featured", 1, "Title", "Abstract", [], ["cs.LG"], Now.AddDays(-30), "https://arxiv.org/abs/featured", "hf-daily", 40)
        {
            Metadata = new PaperMetadata { FeaturedAt = Now.AddHours(-2) },
        }, Now) { FirstIngestedAt = Now.AddDays(-29), ArrivedAt = Now.AddDays(-29) };
        Assert.True(featured.IsNewsAt(Now));
    }

    [Fact]
    public void A_paper_that_arrives_before_its_own_date_is_dated_by_it()
    {
        // Ingested before the time it gives (a source's clock, a time zone): its date stands.
        var early = Paper("early", TimeSpan.FromHours(1), Now.AddHours(-2));

        Assert.Equal(Now.AddHours(-1), early.WindowAt);
    }
}
