using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests.Relevance;

public sealed class RelevanceReasonSpecs
{
    [Fact]
    public void A_reason_names_the_interest_and_the_words_it_found_in_the_title_and_the_abstract()
    {
        var hit = new RelevanceHit(Paper("p", "An Overview of Diffusion Models", "We study denoising and guided sampling."), 0.9, 0.62, 0.7, 1);

        var reason = RelevanceReason.Explain(hit, ["protein folding", "diffusion models denoising"]);

        Assert.Equal("matches your interest 'diffusion models denoising': 'diffusion', 'models' in the title, 'denoising' in the abstract; similar in meaning (0.62)", reason);
    }

    [Fact]
    public void When_the_words_of_one_interest_matched_and_the_meaning_of_another_both_are_named()
    {
        // Ranked by the words of "graph neural networks"; its cosine of 0.58 is to "diffusion models".
        var hit = new RelevanceHit(Paper("p", "Graph neural networks for image denoising"), 0.8, 0.58, 0.9, 1) { DenseQuery = 0 };

        var reason = RelevanceReason.Explain(hit, ["diffusion models", "graph neural networks"]);

        Assert.Equal("matches your interest 'graph neural networks': 'graph', 'neural', 'networks' in the title; similar in meaning to your interest 'diffusion models' (0.58)", reason);
    }

    [Fact]
    public void Without_shared_words_the_reason_is_similarity_in_meaning()
    {
        var hit = new RelevanceHit(Paper("p", "Flaky tests in Python", "Tests that fail without code changes."), 0.5, 0.58, 0, 0);

        Assert.Equal("similar in meaning to your search 'nondeterministic failures' (0.58)", RelevanceReason.Explain(hit, ["nondeterministic failures"], "search"));
    }

    [Fact]
    public void A_long_query_is_shortened_and_a_bad_index_does_not_throw()
    {
        var hit = new RelevanceHit(Paper("p", "Title"), 0.5, 0.3, 0, 7);
        var reason = RelevanceReason.Explain(hit, [new string('a', 500)]);
        Assert.StartsWith("similar in meaning to your interest ''", reason);

        var longOne = RelevanceReason.Explain(hit with { BestQuery = 0 }, [string.Join(' ', Enumerable.Repeat("word", 40))]);
        Assert.Contains("…'", longOne);
    }
}
