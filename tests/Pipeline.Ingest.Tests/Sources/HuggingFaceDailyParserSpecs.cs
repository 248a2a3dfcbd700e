using System.Text;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Tests.Sources;

public class HuggingFaceDailyParserSpecs
{
    private static readonly DateOnly Day = new(2024, 10, 23);

    private static ParsedFeed Parse(string json) => HuggingFaceDailyParser.Parse(Encoding.UTF8.GetBytes(json), Day);

    // The shape of huggingface.co/api/daily_papers: most fields inside "paper", some at the top.
    private const string Daily = """
        [
          {
            "paper": {
              "id": "2410.17243",
              "authors": [{"_id": "a1", "name": "Ada Lovelace", "hidden": false}, {"_id": "a2", "name": "Alan Turing"}],
              "publishedAt": "2024-10-22T17:59:59.000Z",
              "submittedOnDailyAt": "2024-10-23T01:37:30.627Z",
              "title": "Breaking the\n Memory Barrier:\nNear Infinite Batch Size",
              "summary": "Contrastive loss is a powerful\napproach.",
              "upvotes": 88,
              "githubRepo": "https://github.com/example/inf-cl",
              "githubStars": 123
            },
            "publishedAt": "2024-10-22T17:59:59.000Z",
            "title": "Breaking the\n Memory Barrier:\nNear Infinite Batch Size",
            "numComments": 4,
            "thumbnail": "https://cdn.example/x.png"
          },
          {
            "id": "2410.18000",
            "title": "Top-level fields only",
            "summary": "Everything sits at the top.",
            "authors": ["Grace Hopper"],
            "upvotes": 5,
            "numComments": 0
          }
        ]
        """;

    [Fact]
    public void Fields_are_read_inside_paper_or_at_the_top_level_with_engagement_kept()
    {
        var feed = Parse(Daily);

        Assert.Equal(2, feed.Papers.Count);
        var first = feed.Papers[0];
        Assert.Equal("2410.17243", first.Id);
        Assert.Equal(["Ada Lovelace", "Alan Turing"], first.Authors);
        Assert.Equal(88, first.Upvotes);
        Assert.Equal(4, first.Metadata!.Comments);
        Assert.Equal("https://github.com/example/inf-cl", first.Metadata.GithubRepo);
        Assert.Equal(123, first.Metadata.GithubStars);
        Assert.Equal(Day, first.Metadata.FeaturedOn);
        // The paper's publication and, apart, when HF featured it: rank dates a featured paper from the later.
        Assert.Equal(new DateTimeOffset(2024, 10, 22, 17, 59, 59, TimeSpan.Zero), first.PublishedAt);
        Assert.Equal(new DateTimeOffset(2024, 10, 23, 1, 37, 30, 627, TimeSpan.Zero), first.Metadata.FeaturedAt);
        Assert.Equal("huggingface", first.Source);

        var second = feed.Papers[1];
        Assert.Equal(("2410.18000", 5, "Everything sits at the top."), (second.Id, second.Upvotes, second.Abstract));
        Assert.Equal(["Grace Hopper"], second.Authors);
        Assert.Equal((Day, null), (second.Metadata!.FeaturedOn, second.Metadata.FeaturedAt));
    }

    [Fact]
    public void Line_breaks_in_titles_become_single_spaces_once_validated()
    {
        var paper = PaperValidator.Validate(Parse(Daily).Papers[0]).Paper!;
        Assert.Equal("Breaking the Memory Barrier: Near Infinite Batch Size", paper.Title);
    }

    [Fact]
    public void The_error_body_is_an_error_not_an_empty_day()
    {
        var error = Assert.Throws<SourceErrorException>(() => Parse("""{"error": "Invalid date"}"""));
        Assert.Contains("Invalid date", error.Message);
    }

    [Fact]
    public void An_empty_array_is_a_day_without_papers()
    {
        Assert.Empty(Parse("[]").Papers);
    }

    [Fact]
    public void An_item_without_an_id_is_rejected_alone()
    {
        var feed = Parse("""[{"paper": {"title": "No id", "summary": "x"}}, {"paper": {"id": "2410.17243", "title": "T", "summary": "S"}}]""");
        Assert.Single(feed.Papers);
        Assert.Equal("item 1", Assert.Single(feed.Rejections).Entry);
    }

    [Fact]
    public void A_paper_without_an_arxiv_id_gets_an_hf_prefixed_id()
    {
        var paper = Assert.Single(Parse("""[{"paper": {"id": "some-blog-paper", "title": "T", "summary": "S"}}]""").Papers);
        Assert.Equal("hf:some-blog-paper", paper.Id);
        Assert.NotNull(PaperValidator.Validate(paper).Paper);
    }

    [Fact]
    public void A_body_that_is_not_json_is_a_format_error()
    {
        Assert.Throws<FeedFormatException>(() => Parse("<html>Bad gateway</html>"));
        Assert.Throws<FeedFormatException>(() => Parse("""[{"paper": {"id": "2410.1"""));
    }
}
