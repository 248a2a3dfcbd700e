using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>
/// A search may look common terms up only for the papers its rare terms reach
/// (<see cref="LexicalIndex.PruneCommonTerms"/>). A user sees the same answer either way: these
/// compare it with reading every posting, on a corpus where a few words are in most papers.
/// </summary>
public sealed class When_common_terms_are_skipped
{
    private const int Papers = 12_000;

    private static readonly string[] Common = ["model", "learning", "network", "results", "method"];

    private static readonly Lazy<(LexicalIndex Index, string[] Rare)> Corpus = new(() =>
    {
        var random = new Random(11);
        var rare = Enumerable.Range(0, 3_000).Select(i => $"topic{i}word").ToArray();
        var index = new LexicalIndex();
        for (var i = 0; i < Papers; i++)
        {
            // Each common word in 40–90% of papers; a few rare words each, Zipf-like.
            var words = Common.Where((_, c) => random.NextDouble() < 0.4 + (0.1 * c))
                .Concat(Enumerable.Range(0, 3 + random.Next(6)).Select(_ => rare[(int)(rare.Length * Math.Pow(random.NextDouble(), 2))]))
                .OrderBy(_ => random.Next())
                .ToArray();
            var title = string.Join(' ', words.Take(4));
            var @abstract = string.Join(' ', words.Concat(words.Where(_ => random.Next(3) == 0)));
            index.Add(Paper($"p{i}", title, @abstract));
        }

        return (index, rare);
    });

    private static (LexicalMatch[] Pruned, LexicalMatch[] Full) Both(IReadOnlyList<IReadOnlyList<string>> texts, int limit, Func<IndexedPaper, bool>? include = null)
    {
        // Query words become terms the way a search's text does (stemmed: "results" → "result").
        var queries = texts.Select(words => RelevanceRanker.TermsOf(string.Join(' ', words))).ToArray();
        var index = Corpus.Value.Index;
        lock (index)
        {
            index.PruneCommonTerms = false;
            var full = index.Search(queries, limit, include).ToArray();
            index.PruneCommonTerms = true;
            return (index.Search(queries, limit, include).ToArray(), full);
        }
    }

    private static void AssertSame(LexicalMatch[] pruned, LexicalMatch[] full)
    {
        Assert.Equal(full.Select(m => m.Paper.Paper.Id), pruned.Select(m => m.Paper.Paper.Id));
        Assert.Equal(full.Select(m => m.BestQuery), pruned.Select(m => m.BestQuery));
        for (var i = 0; i < full.Length; i++)
        {
            Assert.Equal(full[i].Score, pruned[i].Score, 5);
        }
    }

    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    public void One_query_with_common_and_rare_terms_gets_the_same_answer(int limit)
    {
        var rare = Corpus.Value.Rare;
        var prunedBefore = Corpus.Value.Index.PrunedQueries;
        for (var q = 0; q < 30; q++)
        {
            string[] terms = [Common[q % Common.Length], rare[(q * 37) % 400], rare[(q * 11) % 2_000]];
            var (pruned, full) = Both([terms], limit);
            Assert.Equal(limit, full.Length);
            AssertSame(pruned, full);
        }

        // Most of these queries did skip the common lists (else this compared a path with itself).
        Assert.True(Corpus.Value.Index.PrunedQueries - prunedBefore >= 10, $"{Corpus.Value.Index.PrunedQueries - prunedBefore} of 30 pruned");
    }

    [Fact]
    public void Several_interests_and_a_filter_get_the_same_answer()
    {
        var rare = Corpus.Value.Rare;
        var prunedBefore = Corpus.Value.Index.PrunedQueries;
        Func<IndexedPaper, bool> odd = p => p.Paper.Id[^1] % 2 == 1;
        for (var q = 0; q < 20; q++)
        {
            IReadOnlyList<string>[] interests =
            [
                [Common[q % Common.Length], rare[(q * 7) % 300]],
                [rare[(q * 13) % 1_500], Common[(q + 2) % Common.Length], Common[(q + 3) % Common.Length]],
                [rare[(q * 29) % 3_000]],
            ];
            var (pruned, full) = Both(interests, 40, odd);
            AssertSame(pruned, full);
            Assert.All(pruned, m => Assert.True(odd(m.Paper)));
        }

        Assert.True(Corpus.Value.Index.PrunedQueries > prunedBefore);
    }

    [Fact]
    public void A_query_whose_rare_terms_reach_few_papers_falls_back_to_every_posting()
    {
        // The rarest word is on a handful of papers: fewer than the limit, so papers with only the
        // common word can make the answer, and must.
        var rare = Corpus.Value.Rare;
        var prunedBefore = Corpus.Value.Index.PrunedQueries;
        var (pruned, full) = Both([["model", rare[^1]]], 100);
        Assert.Equal(100, full.Length);
        AssertSame(pruned, full);
        Assert.Equal(prunedBefore, Corpus.Value.Index.PrunedQueries);
    }
}
