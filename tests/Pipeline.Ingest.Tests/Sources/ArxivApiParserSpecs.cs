using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;
using static Pipeline.Ingest.Tests.Sources.Fixtures;

namespace Pipeline.Ingest.Tests.Sources;

public class ArxivApiParserSpecs
{
    private static ParsedFeed ParseShared(string file)
    {
        using var stream = SharedData.Open("arxiv-api/" + file);
        return ArxivApiParser.Parse(stream);
    }

    [SharedDataFact]
    public void Every_entry_of_the_real_100_entry_response_becomes_a_valid_paper()
    {
        var feed = ParseShared("query-testing-start0-max100.xml");

        Assert.Equal(100, feed.Papers.Count);
        Assert.Empty(feed.Rejections);
        Assert.Equal(100, feed.Papers.Select(p => p.Id).Distinct().Count());
        Assert.True(feed.TotalResults > 100);
        foreach (var paper in feed.Papers)
        {
            var valid = PaperValidator.Validate(paper).Paper;
            Assert.NotNull(valid);
            Assert.True(paper.Version >= 1, paper.Id);
            Assert.DoesNotContain('\n', paper.Title + paper.Abstract);
            Assert.DoesNotContain("  ", paper.Title + paper.Abstract);
            Assert.Equal(paper.Metadata!.PrimaryCategory, paper.Categories[0]);
            Assert.True(paper.PublishedAt <= paper.Metadata.UpdatedAt, paper.Id);
            Assert.StartsWith("https://arxiv.org/pdf/", paper.Metadata.PdfUrl);
        }

        Assert.Contains(feed.Papers, p => p.Metadata!.Doi is not null);
        Assert.Contains(feed.Papers, p => p.Metadata!.JournalRef is not null);
        Assert.Contains(feed.Papers, p => p.Metadata!.Comment is not null);
        Assert.Contains(feed.Papers, p => p.Metadata!.AuthorDetails!.Any(a => a.Affiliations.Count > 0));
    }

    [SharedDataFact]
    public void Names_and_symbols_the_real_response_carries_doubly_encoded_are_read_back()
    {
        var feed = ParseShared("query-testing-start0-max100.xml");
        var authors = feed.Papers.SelectMany(p => p.Authors).ToHashSet(StringComparer.Ordinal);

        // The response holds "KroiÃ\u009f", "SÃ³lrÃºn EinarsdÃ³ttir" and "$Î±$" (UTF-8 read as Latin-1).
        Assert.Contains("Florian Kroiß", authors);
        Assert.Contains("Sólrún Einarsdóttir", authors);
        Assert.Contains(feed.Papers, p => p.Abstract?.Contains("$α$", StringComparison.Ordinal) == true);
        var text = string.Concat(feed.Papers.Select(p => p.Title + p.Abstract + string.Concat(p.Authors)));
        Assert.DoesNotContain(text, c => c is >= '\u0080' and <= '\u009F');
        Assert.DoesNotContain("Ã", text, StringComparison.Ordinal);
    }

    [SharedDataFact]
    public void The_six_consecutive_real_pages_hold_sixty_distinct_papers()
    {
        var ids = Enumerable.Range(0, 6)
            .SelectMany(page => ParseShared($"query-testing-start{page * 10}-max10.xml").Papers)
            .Select(p => p.Id)
            .ToList();

        Assert.Equal(60, ids.Count);
        Assert.Equal(60, ids.Distinct().Count());
    }

    [SharedDataFact]
    public void A_real_entry_keeps_its_id_version_links_doi_comment_and_journal_reference()
    {
        var paper = ParseShared("query-testing-start0-max10.xml").Papers[0];

        Assert.Equal("2202.12139", paper.Id);
        Assert.Equal(1, paper.Version);
        Assert.Equal("Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques", paper.Title);
        Assert.Equal(["cs.SE", "cs.LG"], paper.Categories);
        Assert.Equal(["Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker"], paper.Authors);
        Assert.Equal(new DateTimeOffset(2022, 2, 24, 15, 5, 19, TimeSpan.Zero), paper.PublishedAt);
        Assert.Equal("https://arxiv.org/abs/2202.12139", paper.Url);
        var m = paper.Metadata!;
        Assert.Equal("cs.SE", m.PrimaryCategory);
        Assert.Equal("https://arxiv.org/pdf/2202.12139v1", m.PdfUrl);
        Assert.Equal("10.1109/ICSTW55395.2022.00035", m.Doi);
        Assert.Equal("Artificial Intelligence in Software Testing 2022 workshop @ ICST 2022", m.Comment);
        Assert.StartsWith("Artificial Intelligence in Software Testing @ 2022 IEEE", m.JournalRef);
    }

    [SharedDataFact]
    public void An_old_style_id_keeps_its_archive_and_its_authors_affiliations()
    {
        var paper = Assert.Single(ParseShared("id-old-style-astro-ph-0601001.xml").Papers);

        Assert.Equal("astro-ph/0601001", paper.Id);
        Assert.Equal(1, paper.Version);
        Assert.Equal("ActaAstron.56:1-50,2006", paper.Metadata!.JournalRef);
        Assert.Equal(new[] { "Ohio State" }, paper.Metadata.AuthorDetails![0].Affiliations);
        Assert.Equal("Warsaw University Observatory", paper.Metadata.AuthorDetails[3].Affiliations[0]);
        Assert.Equal("astro-ph/0601001", PaperValidator.Validate(paper).Paper!.Id);
    }

    [SharedDataFact]
    public void The_real_http_400_answer_is_an_error_and_never_a_paper()
    {
        var error = Assert.Throws<SourceErrorException>(() => ParseShared("error-400-malformed-id.xml"));
        Assert.Contains("incorrect id format for abc", error.Message);
    }

    [SharedDataFact]
    public void The_real_empty_answer_is_no_papers_and_no_error()
    {
        var feed = ParseShared("empty-unknown-id.xml");
        Assert.Empty(feed.Papers);
        Assert.Empty(feed.Rejections);
        Assert.Equal(0, feed.TotalResults);
    }

    [Fact]
    public void Title_and_abstract_whitespace_is_folded_and_the_primary_category_leads()
    {
        var paper = Assert.Single(ArxivApiParser.Parse(Stream(ArxivFeed(ArxivEntry()))).Papers);
        Assert.Equal(("2410.17243", 2), (paper.Id, paper.Version));
        Assert.Equal("A title over two lines", paper.Title);
        Assert.Equal("An abstract with line breaks.", paper.Abstract);
        Assert.Equal(["cs.CL", "cs.LG"], paper.Categories);
        Assert.Equal("Analytical Engines Ltd", paper.Metadata!.AuthorDetails![0].Affiliations[0]);
    }

    [Fact]
    public void A_malformed_entry_is_rejected_alone_with_its_reason_and_the_rest_is_parsed()
    {
        var feed = ArxivApiParser.Parse(Stream(ArxivFeed(
            ArxivEntry(),
            ArxivEntry(id: "http://example.org/not-an-arxiv-id"),
            ArxivEntry(id: "http://arxiv.org/abs/2410.00001v1", updated: "the day after tomorrow"),
            ArxivEntry(id: "http://arxiv.org/abs/2410.00002v3"))));

        Assert.Equal(["2410.17243", "2410.00002"], feed.Papers.Select(p => p.Id));
        Assert.Equal(2, feed.Rejections.Count);
        Assert.Contains("not an arXiv id", feed.Rejections[0].Reason);
        Assert.Equal("http://arxiv.org/abs/2410.00001v1", feed.Rejections[1].Entry);
        Assert.Contains("not a date", feed.Rejections[1].Reason);
    }

    [SharedDataFact]
    public void A_truncated_body_is_not_well_formed_and_is_refused_as_a_whole()
    {
        var bytes = SharedData.Bytes("arxiv-api/query-testing-start0-max10.xml");
        var truncated = new MemoryStream(bytes, 0, bytes.Length / 2);

        var error = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(truncated));
        Assert.Contains("not well-formed", error.Message);
    }

    [Fact]
    public void A_body_that_is_not_an_atom_feed_is_refused()
    {
        Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(Stream("<html><body>Service Unavailable</body></html>")));
        Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(Stream("Rate exceeded.")));
    }
}
