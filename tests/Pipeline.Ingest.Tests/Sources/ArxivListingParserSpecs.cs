using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;
using static Pipeline.Ingest.Tests.Sources.Fixtures;

namespace Pipeline.Ingest.Tests.Sources;

public class ArxivListingParserSpecs
{
    // The format of rss.arxiv.org/rss/<category> (RSS 2.0 with arxiv: and dc: extensions).
    private static string Rss(params string[] items) => $"""
        <?xml version='1.0' encoding='UTF-8'?>
        <rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
          <channel>
            <title>cs.LG updates on arXiv.org</title>
            <link>http://rss.arxiv.org/rss/cs.LG</link>
            <description>cs.LG updates on the arXiv.org e-print archive.</description>
            <atom:link href="https://rss.arxiv.org/rss/cs.LG" rel="self" type="application/rss+xml"/>
            <lastBuildDate>Tue, 22 Oct 2024 00:00:00 -0400</lastBuildDate>
            <skipDays><day>Saturday</day><day>Sunday</day></skipDays>
            {string.Concat(items)}
          </channel>
        </rss>
        """;

    private static string Item(string id, int version, string type, string title = "A listed\n  paper") => $"""
            <item>
              <title>{title}</title>
              <link>https://arxiv.org/abs/{id}</link>
              <description>arXiv:{id}v{version} Announce Type: {type} 
        Abstract: We study   listings
        across lines.</description>
              <guid isPermaLink="false">oai:arXiv.org:{id}v{version}</guid>
              <category>cs.LG</category>
              <category>stat.ML</category>
              <pubDate>Tue, 22 Oct 2024 00:00:00 -0400</pubDate>
              <arxiv:announce_type>{type}</arxiv:announce_type>
              <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
              <dc:creator>Ada Lovelace, Alan Turing, and Grace Hopper</dc:creator>
            </item>
        """;

    [Fact]
    public void New_and_cross_listings_are_papers_with_the_announce_prefix_stripped()
    {
        var feed = ArxivListingParser.Parse(Stream(Rss(Item("2410.17243", 1, "new"), Item("2410.11111", 1, "cross"))));

        Assert.Equal(2, feed.Papers.Count);
        var paper = feed.Papers[0];
        Assert.Equal(("2410.17243", 1), (paper.Id, paper.Version));
        Assert.Equal("We study listings across lines.", paper.Abstract);
        Assert.Equal("A listed paper", paper.Title);
        Assert.Equal(["Ada Lovelace", "Alan Turing", "Grace Hopper"], paper.Authors);
        Assert.Equal(["cs.LG", "stat.ML"], paper.Categories);
        Assert.Equal(new DateTimeOffset(2024, 10, 22, 4, 0, 0, TimeSpan.Zero), paper.PublishedAt);
        Assert.False(paper.OnlyIfKnown);
        Assert.False(feed.Papers[1].OnlyIfKnown);
        Assert.NotNull(PaperValidator.Validate(paper).Paper);
    }

    [Fact]
    public void Replace_and_replace_cross_only_update_papers_already_held()
    {
        var feed = ArxivListingParser.Parse(Stream(Rss(Item("2410.17243", 2, "replace"), Item("2409.00001", 3, "replace-cross"))));

        Assert.All(feed.Papers, p => Assert.True(p.OnlyIfKnown));
        Assert.Equal([2, 3], feed.Papers.Select(p => p.Version));
    }

    [Fact]
    public void An_unknown_announce_type_is_rejected_alone()
    {
        var feed = ArxivListingParser.Parse(Stream(Rss(Item("2410.17243", 1, "new"), Item("2410.22222", 1, "withdrawn-ish"))));

        Assert.Single(feed.Papers);
        var rejection = Assert.Single(feed.Rejections);
        Assert.Equal("oai:arXiv.org:2410.22222v1", rejection.Entry);
        Assert.Contains("announce type", rejection.Reason);
    }

    [Fact]
    public void A_weekend_listing_without_items_is_an_empty_result_not_an_error()
    {
        var feed = ArxivListingParser.Parse(Stream(Rss()));
        Assert.Empty(feed.Papers);
        Assert.Empty(feed.Rejections);
    }

    [Fact]
    public void The_atom_form_of_the_listing_reads_the_same()
    {
        var atom = """
            <?xml version='1.0' encoding='UTF-8'?>
            <feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
              <id>http://rss.arxiv.org/atom/cs.LG</id>
              <title>cs.LG updates on arXiv.org</title>
              <updated>2024-10-22T04:00:00Z</updated>
              <entry>
                <id>oai:arXiv.org:2410.17243v2</id>
                <title>An Atom listed paper</title>
                <updated>2024-10-22T04:00:00Z</updated>
                <link href="https://arxiv.org/abs/2410.17243" rel="alternate" type="text/html"/>
                <summary>arXiv:2410.17243v2 Announce Type: replace-cross 
            Abstract: Revised text.</summary>
                <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
                <published>2024-10-22T00:00:00-04:00</published>
                <arxiv:announce_type>replace-cross</arxiv:announce_type>
                <dc:creator>Ada Lovelace and Alan Turing</dc:creator>
              </entry>
            </feed>
            """;

        var paper = Assert.Single(ArxivListingParser.Parse(Stream(atom)).Papers);
        Assert.Equal(("2410.17243", 2, "Revised text."), (paper.Id, paper.Version, paper.Abstract));
        Assert.True(paper.OnlyIfKnown);
        Assert.Equal(["Ada Lovelace", "Alan Turing"], paper.Authors);
    }
}
