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

    [Theory]
    // Step 1 of Porter (1980), his own examples, plus the Porter2 guard for "-us" and "-is".
    [InlineData("caresses", "caress")]
    [InlineData("ponies", "poni")]
    [InlineData("ties", "ti")]
    [InlineData("caress", "caress")]
    [InlineData("cats", "cat")]
    [InlineData("feed", "feed")]
    [InlineData("agreed", "agree")]
    [InlineData("plastered", "plaster")]
    [InlineData("bled", "bled")]
    [InlineData("motoring", "motor")]
    [InlineData("sing", "sing")]
    [InlineData("conflated", "conflate")]
    [InlineData("troubled", "trouble")]
    [InlineData("sized", "size")]
    [InlineData("hopping", "hop")]
    [InlineData("tanned", "tan")]
    [InlineData("falling", "fall")]
    [InlineData("hissing", "hiss")]
    [InlineData("fizzed", "fizz")]
    [InlineData("failing", "fail")]
    [InlineData("filing", "file")]
    [InlineData("happy", "happi")]
    [InlineData("sky", "sky")]
    [InlineData("corpus", "corpus")]
    [InlineData("analysis", "analysis")]
    [InlineData("gpt4o", "gpt4o")]
    public void Stemming_folds_plurals_and_ed_and_ing_forms_with_or_without_allocating(string word, string stem)
    {
        Assert.Equal(stem, EnglishStemmer.Stem(word));
        Span<char> buffer = stackalloc char[word.Length];
        Assert.Equal(stem, new string(buffer[..EnglishStemmer.Stem(word, buffer)]));
    }

    [Fact]
    public void Counting_a_text_gives_the_terms_listing_it_gives()
    {
        // The index counts a paper's terms from spans; searches and reasons list them as strings.
        var random = new Random(7);
        string[] vocabulary = ["Testing", "tests", "tested", "GPT-4o", "state-of-the-art", "the", "models", "a", "x", "Ünïcode", "3D",
            "flaky", "studies", "hopping", "agreed", "self-supervised", "LLMs", "of", "analysis", "pneumonoultramicroscopicsilicovolcanoconiosis"];
        for (var n = 0; n < 300; n++)
        {
            var text = string.Join(random.Next(4) == 0 ? "-" : " ", Enumerable.Range(0, random.Next(0, 40)).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
            var listed = SearchTerms.Of(text);
            var counts = new Dictionary<string, (int Title, int Abstract)>(StringComparer.Ordinal) { ["earlier"] = (1, 0) };

            Assert.Equal(listed.Count, SearchTerms.CountInto(text, counts, title: false));
            Assert.Equal((1, 0), counts["earlier"]);
            counts.Remove("earlier");
            Assert.Equal(listed.GroupBy(t => t.Term).ToDictionary(g => g.Key, g => (0, g.Count())), counts.ToDictionary(kv => kv.Key, kv => kv.Value));
        }
    }

    [Fact]
    public void Counting_with_term_strings_makes_a_terms_string_once_and_counts_the_same()
    {
        // The index counts each paper into a reused table whose comparer remembers term strings.
        var strings = new TermStrings();
        var counts = new Dictionary<string, (int Title, int Abstract)>(strings);
        SearchTerms.CountInto("Diffusion models for protein design", counts, title: true);
        var first = counts.Keys.ToDictionary(k => k, k => k);
        counts.Clear();

        var text = "Protein language models, and models of diffusion";
        SearchTerms.CountInto(text, counts, title: false);

        var plain = new Dictionary<string, (int Title, int Abstract)>(StringComparer.Ordinal);
        SearchTerms.CountInto(text, plain, title: false);
        Assert.Equal(plain.OrderBy(kv => kv.Key, StringComparer.Ordinal), counts.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal((0, 2), counts["model"]);
        foreach (var term in new[] { "diffusion", "model", "protein" })
        {
            Assert.Same(first[term], counts.Keys.Single(k => k == term));
        }

        Assert.Equal(first.Keys.Union(counts.Keys).Count(), strings.Count); // one string a distinct term, over both texts
    }

    [Fact]
    public void Term_strings_remember_a_bounded_number_of_terms_and_still_count_right()
    {
        var strings = new TermStrings(capacity: 3);
        var counts = new Dictionary<string, (int Title, int Abstract)>(strings);

        SearchTerms.CountInto("alpha beta gamma delta epsilon alpha", counts, title: false);

        Assert.InRange(strings.Count, 1, 3);
        Assert.Equal(5, counts.Count);
        Assert.Equal((0, 2), counts["alpha"]);
        Assert.Equal((0, 1), counts["epsilon"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TermStrings(capacity: 0));
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
