using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Tests.Relevance;

public sealed class SearchTermsSpecs
{
    private static string[] Terms(string? text) => SearchTerms.Of(text).Select(t => t.Term).ToArray();

    [Fact]
    public void Words_are_lowercased_stopwords_dropped_and_inflections_folded()
    {
        Assert.Equal(["test", "model"], Terms("The Testing of Models"));
        Assert.Equal(Terms("tested models"), Terms("testing model"));
        Assert.Equal(Terms("study"), Terms("studies"));
    }

    [Fact]
    public void Derivations_stay_apart_so_generation_is_not_generative()
    {
        Assert.NotEqual(Terms("test generation"), Terms("generative test"));
        Assert.Equal(["analysis", "corpus", "class"], Terms("analysis corpus classes"));
    }

    [Fact]
    public void Hyphenated_names_match_whether_written_with_a_hyphen_together_or_apart()
    {
        var hyphen = Terms("GPT-4o");
        Assert.Contains("gpt", hyphen);
        Assert.Contains("4o", hyphen);
        Assert.Contains("gpt4o", hyphen);
        Assert.Contains("gpt4o", Terms("gpt4o"));
        Assert.Equal(["3d", "llm"], Terms("3D LLM"));
        Assert.Contains("stackganv2", Terms("StackGAN-v2"));
    }

    [Fact]
    public void The_surface_word_is_kept_for_reasons()
    {
        Assert.Equal(["diffusion", "models"], SearchTerms.Of("Diffusion Models").Select(t => t.Word));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("!!! --- ???")]
    [InlineData("a of the and")]
    [InlineData("x - y")]
    public void Text_without_content_words_gives_no_terms(string? text) => Assert.Empty(Terms(text));

    [Fact]
    public void Very_long_tokens_and_odd_characters_do_not_throw()
    {
        var terms = Terms(new string('x', 10_000) + " \u0000\uFFFF naïve Übersicht $\\varepsilon$");
        Assert.Contains(new string('x', SearchTerms.MaxTermLength), terms);
        Assert.Contains("naïve", terms);
        Assert.Contains("übersicht", terms);
    }
}
