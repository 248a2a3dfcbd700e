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

    [Fact]
    public void An_interest_and_a_seed_paper_quoted_in_one_reason_are_each_called_what_they_are()
    {
        // The words of the interest "graph neural networks" (query 0) matched; the meaning of the
        // seed paper "Attention Is All You Need" (query 1, past the one interest) did.
        var hit = new RelevanceHit(Paper("p", "Graph neural networks with attention"), 0.8, 0.58, 0.9, 0) { DenseQuery = 1 };
        string[] queries = ["graph neural networks", "Attention Is All You Need"];
        string Kind(int query) => query >= 1 ? "example paper" : "interest";

        var reason = RelevanceReason.Explain(hit, queries, Kind, _ => [(true, false), (true, false), (true, false)]);

        Assert.Equal("matches your interest 'graph neural networks': 'graph', 'neural', 'networks' in the title; similar in meaning to your example paper 'Attention Is All You Need' (0.58)", reason);
        // The other way round: the seed's words, the interest's meaning.
        var other = RelevanceReason.Explain(hit with { BestQuery = 1, DenseQuery = 0 }, queries, Kind, terms => terms.Select(_ => (true, false)).ToArray());
        Assert.StartsWith("matches your example paper 'Attention Is All You Need': ", other);
        Assert.EndsWith("; similar in meaning to your interest 'graph neural networks' (0.58)", other);
    }

    [Fact]
    public void Likes_that_moved_the_vectors_are_named_beside_the_similarity_they_changed()
    {
        var hit = new RelevanceHit(Paper("p", "Flaky tests in Python", "Tests that fail without code changes."), 0.5, 0.58, 0, 0);

        var reason = RelevanceReason.Explain(hit, ["nondeterministic failures"], _ => "interest", terms => terms.Select(_ => (false, false)).ToArray(), "with the papers you liked");

        Assert.Equal("similar in meaning to your interest 'nondeterministic failures' (0.58, with the papers you liked)", reason);
    }
}
