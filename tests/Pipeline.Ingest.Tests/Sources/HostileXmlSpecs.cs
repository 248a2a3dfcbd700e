using Pipeline.Ingest.Sources.Parsing;
using static Pipeline.Ingest.Tests.Sources.Fixtures;

namespace Pipeline.Ingest.Tests.Sources;

/// <summary>Feeds come from the network: entity tricks must neither expand nor read files.</summary>
public class HostileXmlSpecs
{
    private const string BillionLaughsDoctype = """
        <!DOCTYPE feed [
          <!ENTITY lol "lol">
          <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
          <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
          <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
          <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
          <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
          <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
          <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
          <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
          <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
        ]>
        """;

    private const string PasswdDoctype = """
        <!DOCTYPE feed [
          <!ENTITY xxe SYSTEM "file:///etc/passwd">
          <!ENTITY % remote SYSTEM "file:///etc/passwd">
          %remote;
        ]>
        """;

    private static string WithDoctype(string doctype, string feed) =>
        feed.Replace("<?xml version='1.0' encoding='UTF-8'?>", "<?xml version='1.0' encoding='UTF-8'?>\n" + doctype, StringComparison.Ordinal);

    // Something every /etc/passwd holds, read from this machine, so no test passes by luck.
    private static readonly string PasswdLine = File.Exists("/etc/passwd") ? File.ReadLines("/etc/passwd").First() : "root:x:0:0:";

    [Fact]
    public void A_billion_laughs_entity_used_in_a_title_is_not_expanded_and_the_body_is_refused()
    {
        var xml = WithDoctype(BillionLaughsDoctype, ArxivFeed(ArxivEntry(title: "&lol9;")));

        var error = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(Stream(xml)));
        Assert.Contains("lol9", error.Message);
        Assert.DoesNotContain("lollol", error.Message);
    }

    [Fact]
    public void A_billion_laughs_doctype_that_is_never_used_is_ignored_and_the_feed_parses()
    {
        var xml = WithDoctype(BillionLaughsDoctype, ArxivFeed(ArxivEntry()));

        var paper = Assert.Single(ArxivApiParser.Parse(Stream(xml)).Papers);
        Assert.Equal("A title over two lines", paper.Title);
        Assert.DoesNotContain("lol", paper.Title + paper.Abstract);
    }

    [Fact]
    public void An_external_entity_pointing_at_etc_passwd_is_never_read()
    {
        var xml = WithDoctype(PasswdDoctype, ArxivFeed(ArxivEntry(title: "Leak &xxe;")));

        var error = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(Stream(xml)));
        Assert.DoesNotContain(PasswdLine, error.ToString());
        Assert.DoesNotContain("root:", error.ToString());
    }

    [Fact]
    public void An_external_entity_declared_but_unused_leaves_every_parsed_field_free_of_file_content()
    {
        var xml = WithDoctype(PasswdDoctype, ArxivFeed(ArxivEntry()));

        var feed = ArxivApiParser.Parse(Stream(xml));
        var paper = Assert.Single(feed.Papers);
        var everything = string.Join("|", paper.Title, paper.Abstract, string.Join(",", paper.Authors), paper.Metadata!.Comment, System.Text.Json.JsonSerializer.Serialize(paper));
        Assert.DoesNotContain(PasswdLine, everything);
        Assert.DoesNotContain("root:", everything);
    }

    [Fact]
    public void The_listing_parser_refuses_an_external_entity_the_same_way()
    {
        var rss = $"""
            <?xml version="1.0" encoding="UTF-8"?>
            {PasswdDoctype}
            <rss version="2.0"><channel><title>cs.LG</title>
            <item><title>&xxe;</title><link>https://arxiv.org/abs/2410.17243</link>
            <description>arXiv:2410.17243v1 Announce Type: new Abstract: x</description></item>
            </channel></rss>
            """;

        var error = Assert.Throws<FeedFormatException>(() => ArxivListingParser.Parse(Stream(rss)));
        Assert.DoesNotContain(PasswdLine, error.ToString());
    }
}
