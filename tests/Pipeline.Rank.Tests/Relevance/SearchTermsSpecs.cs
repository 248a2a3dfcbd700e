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

    private static Dictionary<string, (int Title, int Abstract)> Counted(TermCounter counter) =>
        Enumerable.Range(0, counter.Distinct).Select(i => counter[i]).ToDictionary(c => c.Term, c => (c.Title, c.Abstract));

    [Fact]
    public void Counting_a_text_gives_the_terms_listing_it_gives()
    {
        // The index counts a paper's terms from spans with a counter it reuses from paper to paper
        // (which stems a word only the first time it meets it); searches and reasons list them as strings.
        var random = new Random(7);
        string[] vocabulary = ["Testing", "tests", "tested", "GPT-4o", "state-of-the-art", "the", "models", "a", "x", "Ünïcode", "3D",
            "flaky", "studies", "hopping", "agreed", "self-supervised", "LLMs", "of", "analysis", "pneumonoultramicroscopicsilicovolcanoconiosis",
            "in-to", "into", "sky-high", "skies"];
        foreach (var capacity in new[] { 3, TermCounter.DefaultCapacity })
        {
            var counter = new TermCounter(capacity);
            for (var n = 0; n < 300; n++)
            {
                var title = string.Join(" ", Enumerable.Range(0, random.Next(0, 6)).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
                var text = string.Join(random.Next(4) == 0 ? "-" : " ", Enumerable.Range(0, random.Next(0, 40)).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
                var listedTitle = SearchTerms.Of(title);
                var listed = SearchTerms.Of(text);

                counter.Begin();
                Assert.Equal(listedTitle.Count, SearchTerms.CountInto(title, counter, title: true));
                Assert.Equal(listed.Count, SearchTerms.CountInto(text, counter, title: false));

                var expected = listedTitle.Select(t => (t.Term, Title: true)).Concat(listed.Select(t => (t.Term, Title: false)))
                    .GroupBy(t => t.Term).ToDictionary(g => g.Key, g => (g.Count(t => t.Title), g.Count(t => !t.Title)));
                Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal), Counted(counter).OrderBy(kv => kv.Key, StringComparer.Ordinal));
            }
        }
    }

    [Fact]
    public void A_counter_makes_a_terms_string_once_and_asks_for_its_id_once()
    {
        var counter = new TermCounter();
        var asked = new List<string>();
        int IdOf(int i) => counter.IdOf(i, (term, list) => { list.Add(term); return list.Count; }, asked);

        counter.Begin();
        SearchTerms.CountInto("Diffusion models for protein design", counter, title: true);
        var first = Counted(counter).Keys.ToDictionary(k => k, k => k);
        var firstIds = Enumerable.Range(0, counter.Distinct).ToDictionary(i => counter[i].Term, IdOf);

        counter.Begin();
        SearchTerms.CountInto("Protein language models, and models of diffusion", counter, title: false);
        var second = Counted(counter);
        Assert.Equal((0, 2), second["model"]);
        Assert.Equal(["diffusion", "language", "model", "protein"], second.Keys.Order(StringComparer.Ordinal));
        var secondIds = Enumerable.Range(0, counter.Distinct).ToDictionary(i => counter[i].Term, IdOf);
        foreach (var term in new[] { "diffusion", "model", "protein" })
        {
            Assert.Same(first[term], second.Keys.Single(k => k == term));
            Assert.Equal(firstIds[term], secondIds[term]);
        }

        // One question a distinct term, over both texts: "language" was the only new one.
        Assert.Equal(["diffusion", "model", "protein", "design", "language"], asked);
        Assert.Equal(first.Keys.Union(second.Keys).Count(), counter.Remembered);
    }

    [Fact]
    public void A_counter_remembers_a_bounded_number_of_terms_and_still_counts_right()
    {
        var counter = new TermCounter(capacity: 3);
        var asked = 0;

        counter.Begin();
        SearchTerms.CountInto("alpha beta gamma delta epsilon alpha", counter, title: false);
        Assert.Equal(5, counter.Distinct); // a text may go past the capacity while it is counted
        Assert.Equal((0, 2), Counted(counter)["alpha"]);
        for (var i = 0; i < counter.Distinct; i++)
        {
            counter.IdOf(i, (_, _) => ++asked, 0);
        }

        counter.Begin(); // past the capacity: forgets every term, word and id
        Assert.Equal(0, counter.Remembered);
        SearchTerms.CountInto("alpha zeta", counter, title: true);
        Assert.Equal(new Dictionary<string, (int, int)> { ["alpha"] = (1, 0), ["zeta"] = (1, 0) }, Counted(counter));
        Assert.Equal(2, counter.Remembered);
        counter.IdOf(0, (_, _) => ++asked, 0);
        Assert.Equal(6, asked); // alpha's id is asked for again after the counter forgot it
        Assert.Throws<ArgumentOutOfRangeException>(() => new TermCounter(capacity: 0));
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
