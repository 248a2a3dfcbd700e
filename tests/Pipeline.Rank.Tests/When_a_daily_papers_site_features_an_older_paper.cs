using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// Hugging Face features arXiv papers a day or a week after they were published. On its front page
/// they are that day's papers, and their upvotes come while they are featured: rank's day is the
/// same, counted from the featuring.
/// </summary>
public class When_a_daily_papers_site_features_an_older_paper
{
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 15, 0, 0, TimeSpan.Zero);

    private static IndexedPaper Paper(string id, TimeSpan publishedAgo, int upvotes, PaperMetadata? metadata = null) =>
        new(new PaperSummary(id, 1, "Title " + id, "Abstract", [], ["cs.LG"], Now - publishedAgo, "https://arxiv.org/abs/" + id, "arxiv-api", upvotes) { Metadata = metadata }, Now - publishedAgo);

    [Fact]
    public void It_is_on_the_days_page_and_its_upvotes_are_counted_from_the_featuring()
    {
        var papers = new PaperIndex();
        var featured = Paper("featured", TimeSpan.FromDays(3), 40, new PaperMetadata(FeaturedOn: DateOnly.FromDateTime(Now.UtcDateTime), FeaturedAt: Now.AddHours(-2)));
        var fresh = Paper("fresh", TimeSpan.FromHours(10), 5);
        var old = Paper("old", TimeSpan.FromDays(3), 100);
        papers.Upsert(featured, PaperIndexSpecs.Unit((0, 1)));
        papers.Upsert(fresh, PaperIndexSpecs.Unit((1, 1)));
        papers.Upsert(old, PaperIndexSpecs.Unit((2, 1)));

        var day = new TrendingBoard(papers, new Feedback()).Top(TrendingWindowKind.Day, "", 10, Now);

        Assert.Equal(["featured", "fresh"], day.Select(e => e.Paper.Paper.Id));
        Assert.Equal(TrendingScore.Of(40, TimeSpan.FromHours(2)), day[0].Score, 12);
        // The reason says where the hours count from: the paper's own date is three days old.
        Assert.Equal("40 upvotes in 2 hours since it was featured", day[0].Reason(Now));
        Assert.Equal("5 upvotes in 10 hours", day[1].Reason(Now));
        // Its publication date is still its own: answers show when it was published.
        Assert.Equal(Now.AddDays(-3), day[0].Paper.Paper.PublishedAt);
    }

    [Fact]
    public void A_featuring_known_by_its_day_alone_counts_from_the_start_of_that_day()
    {
        var byDay = Paper("by-day", TimeSpan.FromDays(5), 12, new PaperMetadata(FeaturedOn: new DateOnly(2026, 11, 29)));

        Assert.Equal(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero), byDay.SeenAt);
    }

    [Fact]
    public void A_featuring_time_before_its_own_day_counts_from_the_start_of_the_day()
    {
        // A source that gave the paper's arXiv time where the featuring's belonged.
        var mislabelled = Paper("mislabelled", TimeSpan.FromDays(5), 12, new PaperMetadata(FeaturedOn: new DateOnly(2026, 11, 29), FeaturedAt: Now.AddDays(-5)));

        Assert.Equal(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero), mislabelled.SeenAt);
    }

    [Fact]
    public void A_featuring_before_the_publication_changes_nothing()
    {
        // A paper featured on the day it was published, before the hour arXiv gives.
        var sameDay = Paper("same-day", TimeSpan.FromHours(3), 2, new PaperMetadata(FeaturedOn: DateOnly.FromDateTime(Now.UtcDateTime)));

        Assert.Equal(Now.AddHours(-3), sameDay.SeenAt);
        Assert.False(sameDay.SeenByFeaturing);
    }

    [Theory]
    [InlineData(0, 5, "no upvotes yet, featured 5 hours ago")]
    [InlineData(0, 0.5, "featured in the last hour")]
    [InlineData(64, 50, "64 upvotes in 2 days since it was featured")]
    public void A_reason_counted_from_a_featuring_says_so(int points, double hours, string reason)
    {
        Assert.Equal(reason, TrendingScore.Reason(points, TimeSpan.FromHours(hours), sinceFeatured: true));
    }

    [Fact]
    public void A_digests_window_takes_a_paper_featured_in_it()
    {
        var papers = new PaperIndex();
        papers.Upsert(Paper("featured", TimeSpan.FromDays(9), 30, new PaperMetadata(FeaturedAt: Now.AddHours(-5))), PaperIndexSpecs.Unit((0, 1)));
        papers.Upsert(Paper("unfeatured", TimeSpan.FromDays(9), 30), PaperIndexSpecs.Unit((0, 1)));

        var hits = papers.Top([PaperIndexSpecs.Unit((0, 1))], 10, seenSince: Now.AddDays(-1));

        Assert.Equal(["featured"], hits.Select(h => h.Paper.Paper.Id));
    }
}
