using Pipeline.Ingest.Papers;

namespace Pipeline.Ingest.Tests;

/// <summary>UTF-8 read as Latin-1 (as real arXiv records carry it) is read back; Latin-1 text written on purpose is not touched.</summary>
public class MojibakeSpecs
{
    [Theory]
    [InlineData("Florian Kroi\u00C3\u009F", "Florian Kroiß")]
    [InlineData("S\u00C3\u00B3lr\u00C3\u00BAn Einarsd\u00C3\u00B3ttir", "Sólrún Einarsdóttir")]
    [InlineData("B\u00C3\u00A4ckstr\u00C3\u00B6m", "Bäckström")]
    [InlineData("$\u00CE\u00B1$-divergence and $\u00CF\u0080$", "$α$-divergence and $π$")]
    [InlineData("Nguy\u00E1\u00BB\u0085n", "Nguyễn")]
    [InlineData("emoji \u00F0\u009F\u0098\u0080 here", "emoji 😀 here")]
    public void Doubly_encoded_text_is_read_back(string written, string expected)
    {
        Assert.Equal(expected, Mojibake.Repair(written));
    }

    [Theory]
    [InlineData("Florian Kroiß")]
    [InlineData("São Paulo, SÃO PAULO")]
    [InlineData("Émile Zoé, à côté, naïve, © 2024, 25 °C, ½")]
    [InlineData("Ã alone, and Ã then text")]
    [InlineData("plain ASCII")]
    [InlineData("Ελληνικά and 中文")]
    [InlineData("")]
    public void Text_that_is_not_doubly_encoded_is_kept_as_it_is(string text)
    {
        Assert.Same(text, Mojibake.Repair(text));
    }

    [Fact]
    public void A_run_that_is_not_valid_utf8_is_kept_while_another_in_the_same_text_is_repaired()
    {
        Assert.Equal("Zoé and Weißl", Mojibake.Repair("Zoé and Wei\u00C3\u009Fl"));
    }

    [Fact]
    public void A_repaired_bidi_override_is_still_refused_by_the_validator()
    {
        // U+202E as UTF-8 (E2 80 AE) read as Latin-1: repaired, then caught like a written one.
        var result = PaperValidator.Validate(new PaperSubmission("2410.17243", 0, "Title \u00E2\u0080\u00AE reversed", "Abstract.", ["Ada"], [], null, null, "api", 0));
        Assert.Null(result.Paper);
        Assert.Contains("U+202E", result.Reason);
    }

    [Fact]
    public void Text_whose_second_byte_dotnet_counts_as_white_space_is_repaired_not_split()
    {
        // "ą" is C4 85 and "à" C3 A0 in UTF-8; read as Latin-1, their second bytes are U+0085 and
        // U+00A0, white space to .NET: folding white space first turned them into spaces for good.
        var result = PaperValidator.Validate(new PaperSubmission("2410.17243", 0, "Universit\u00C3\u00A0 di Pisa", "Abstract.", ["Marek D\u00C4\u0085browski"], [], null, null, "api", 0));

        Assert.Equal(("Università di Pisa", "Marek Dąbrowski"), (result.Paper!.Title, result.Paper.Authors[0]));
    }

    [Fact]
    public void A_category_with_a_bidi_override_is_refused_like_a_title()
    {
        // Categories are printed in every email card.
        var result = PaperValidator.Validate(new PaperSubmission("2410.17243", 0, "Title", "Abstract.", ["Ada"], ["cs.LG\u202Egnp.evil"], null, null, "api", 0));

        Assert.Null(result.Paper);
        Assert.Contains("category", result.Reason);
    }

    [Fact]
    public void The_validator_repairs_titles_abstracts_and_authors()
    {
        var result = PaperValidator.Validate(new PaperSubmission("2410.17243", 0, "On $\u00CE\u00B1$-stable laws", "By St\u00C3\u00A9phane.", ["St\u00C3\u00A9phane Cl\u00C3\u00A9ment"], [], null, null, "api", 0));
        Assert.Equal(("On $α$-stable laws", "By Stéphane.", "Stéphane Clément"), (result.Paper!.Title, result.Paper.Abstract, result.Paper.Authors[0]));
    }
}
