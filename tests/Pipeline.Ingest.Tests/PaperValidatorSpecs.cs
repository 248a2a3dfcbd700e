using Pipeline.Ingest.Papers;

namespace Pipeline.Ingest.Tests;

public class PaperValidatorSpecs
{
    private static PaperSubmission Paper(string? id = "2410.17243", string? title = "Attention is all you need", string? abstractText = "We propose a new architecture.", int version = 0, string? url = null) =>
        new(id, version, title, abstractText, ["Ada Lovelace"], ["cs.LG"], null, url, "api", 0);

    [Fact]
    public void A_complete_paper_is_accepted_with_an_arxiv_link()
    {
        var result = PaperValidator.Validate(Paper());
        Assert.Null(result.Reason);
        Assert.Equal("2410.17243", result.Paper!.Id);
        Assert.Equal("https://arxiv.org/abs/2410.17243", result.Paper.Url);
    }

    [Theory]
    [InlineData(null, "id is required")]
    [InlineData("", "id is required")]
    [InlineData("not an id", "neither an arXiv id")]
    [InlineData("2410.172", "neither an arXiv id")]
    [InlineData("../../etc/passwd", "neither an arXiv id")]
    public void A_missing_or_malformed_id_is_rejected_with_a_reason(string? id, string reason)
    {
        var result = PaperValidator.Validate(Paper(id: id));
        Assert.Null(result.Paper);
        Assert.Contains(reason, result.Reason);
    }

    [Fact]
    public void A_missing_title_is_rejected()
    {
        Assert.Equal("title is required", PaperValidator.Validate(Paper(title: "  \n ")).Reason);
    }

    [Fact]
    public void An_empty_abstract_is_rejected()
    {
        Assert.Equal("abstract is required", PaperValidator.Validate(Paper(abstractText: "")).Reason);
    }

    [Fact]
    public void A_one_megabyte_abstract_is_rejected()
    {
        var result = PaperValidator.Validate(Paper(abstractText: new string('a', 1024 * 1024)));
        Assert.Contains("abstract is longer than", result.Reason);
    }

    [Fact]
    public void A_version_suffix_becomes_the_version_of_a_versionless_id()
    {
        var result = PaperValidator.Validate(Paper(id: "2410.17243v3"));
        Assert.Equal(("2410.17243", 3), (result.Paper!.Id, result.Paper.Version));
    }

    [Fact]
    public void A_version_suffix_that_contradicts_the_version_field_is_rejected()
    {
        Assert.Contains("version", PaperValidator.Validate(Paper(id: "2410.17243v3", version: 2)).Reason);
    }

    [Theory]
    [InlineData("astro-ph/0601001")]
    [InlineData("math.GT/0309136")]
    [InlineData("hf:sparse-autoencoders-at-scale")]
    [InlineData("doi:10.1000/xyz-123")]
    public void Old_style_and_source_prefixed_ids_are_accepted(string id)
    {
        Assert.Equal(id, PaperValidator.Validate(Paper(id: id)).Paper!.Id);
    }

    [Theory]
    [InlineData("arxiv:2410.17243", 0)]
    [InlineData("arXiv:2410.17243v2", 2)]
    [InlineData("hf:2410.17243", 0)]
    [InlineData("doi:10.48550/arXiv.2410.17243", 0)]
    [InlineData("DOI:10.48550/ARXIV.2410.17243", 0)]
    [InlineData("arxiv:astro-ph/0601001", 0)]
    public void An_arxiv_paper_written_with_a_prefix_or_as_arxivs_doi_is_the_arxiv_paper(string id, int version)
    {
        // One paper, whichever way a file, an export or a site writes its id: not a second copy.
        var paper = PaperValidator.Validate(Paper(id: id)).Paper!;

        Assert.Equal(id.Contains("astro-ph", StringComparison.Ordinal) ? "astro-ph/0601001" : "2410.17243", paper.Id);
        Assert.Equal(version, paper.Version);
        Assert.StartsWith("https://arxiv.org/abs/", paper.Url, StringComparison.Ordinal);
    }

    [Fact]
    public void Line_breaks_and_runs_of_spaces_in_title_and_abstract_are_folded()
    {
        var result = PaperValidator.Validate(Paper(title: "  Diffusion\n   models\tfor  text ", abstractText: "One\r\n\r\ntwo"));
        Assert.Equal("Diffusion models for text", result.Paper!.Title);
        Assert.Equal("One two", result.Paper.Abstract);
    }

    [Theory]
    [InlineData("javascript:alert(1)")]
    [InlineData("ftp://example.org/paper.pdf")]
    [InlineData("/relative")]
    public void A_url_that_is_not_http_is_rejected(string url)
    {
        Assert.Contains("url", PaperValidator.Validate(Paper(url: url)).Reason);
    }
}
