using Pipeline.Contracts.Messages;

namespace Pipeline.Embed.Tests;

public sealed class When_a_paper_becomes_text
{
    [Fact]
    public void The_title_and_abstract_are_joined_by_a_full_stop()
    {
        Assert.Equal("Attention Is All You Need. We propose the Transformer.", PaperText.Of("Attention Is All You Need", "We propose the Transformer."));
    }

    [Theory]
    [InlineData("Is attention all you need?")]
    [InlineData("Scaling works!")]
    [InlineData("A note on e.g.")]
    public void A_title_that_ends_a_sentence_gets_no_extra_full_stop(string title)
    {
        Assert.Equal(title + " Abstract.", PaperText.Of(title, "Abstract."));
    }

    [Fact]
    public void Wrapped_lines_and_repeated_spaces_become_single_spaces()
    {
        Assert.Equal("A long title over two lines. An abstract with gaps.",
            PaperText.Of("  A long title\n   over two lines ", "An abstract\r\n\twith   gaps."));
    }

    [Fact]
    public void A_missing_part_leaves_out_its_separator()
    {
        Assert.Equal("Only a title", PaperText.Of("Only a title", ""));
        Assert.Equal("Only an abstract.", PaperText.Of(null, "Only an abstract."));
        Assert.Equal("", PaperText.Of(" ", null));
    }
}
