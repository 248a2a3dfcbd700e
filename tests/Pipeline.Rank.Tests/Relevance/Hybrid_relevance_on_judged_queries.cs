using System.Globalization;
using System.Numerics.Tensors;
using Pipeline.Embed.Embedding;
using Pipeline.Rank.Ranking.Relevance;
using Xunit.Abstractions;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>
/// The relevance benchmark of docs/benchmarks.md: the judged queries of judgments.json run through
/// the production <see cref="RelevanceRanker"/> in each mode over the real corpus, embedded with the
/// real model. Run with <c>dotnet test tests/Pipeline.Rank.Tests --filter Relevance --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class Hybrid_relevance_on_judged_queries(JudgedCorpus corpus, ITestOutputHelper output) : IClassFixture<JudgedCorpus>
{
    private static readonly RelevanceMode[] Modes = [RelevanceMode.Lexical, RelevanceMode.Dense, RelevanceMode.Hybrid];

    [JudgedCorpusFact]
    public void The_judged_set_is_large_enough_and_judges_only_papers_of_the_corpus()
    {
        Assert.Equal(152, corpus.Papers.Count);
        Assert.True(corpus.Queries.Count >= 30, $"{corpus.Queries.Count} judged queries");
        var ids = corpus.Papers.Select(p => p.Paper.Id).ToHashSet(StringComparer.Ordinal);
        Assert.All(corpus.Queries, q =>
        {
            Assert.Contains(q.Relevant, r => r.Value == 2);
            Assert.All(q.Relevant, r => Assert.True(ids.Contains(r.Key) && r.Value is 1 or 2, $"{q.Id}: {r.Key} = {r.Value}"));
        });
    }

    [JudgedCorpusFact]
    public void Hybrid_ranks_better_than_lexical_or_dense_alone_at_5_and_at_10()
    {
        var ranker = corpus.Ranker();
        var scores = Modes.ToDictionary(m => m, m => Evaluate(ranker, m));

        output.WriteLine($"{corpus.Papers.Count} papers, {corpus.Queries.Count} judged queries; RRF k={ranker.Options.RrfK}, pool {ranker.Options.CandidatePool} per side");
        output.WriteLine("| mode | nDCG@5 | nDCG@10 | " + string.Join(" | ", Kinds().Select(k => $"nDCG@10 {k} ({corpus.Queries.Count(q => q.Kind == k)})")) + " |");
        output.WriteLine("|---|---|---|" + string.Concat(Kinds().Select(_ => "---|")));
        foreach (var mode in Modes)
        {
            var s = scores[mode];
            output.WriteLine($"| {mode.ToString().ToLowerInvariant()} | {F(s.At5)} | {F(s.At10)} | " + string.Join(" | ", Kinds().Select(k => F(s.At10ByKind[k]))) + " |");
        }

        output.WriteLine("");
        output.WriteLine("nDCG@10 per query (lexical / dense / hybrid):");
        foreach (var q in corpus.Queries)
        {
            output.WriteLine($"  {q.Id} {q.Kind,-7} {F(scores[RelevanceMode.Lexical].PerQuery[q.Id])} {F(scores[RelevanceMode.Dense].PerQuery[q.Id])} {F(scores[RelevanceMode.Hybrid].PerQuery[q.Id])}  {q.Text}");
        }

        var hybrid = scores[RelevanceMode.Hybrid];
        Assert.True(hybrid.At10 >= scores[RelevanceMode.Lexical].At10 && hybrid.At10 >= scores[RelevanceMode.Dense].At10, "hybrid nDCG@10 is below a single mode");
        Assert.True(hybrid.At5 >= scores[RelevanceMode.Lexical].At5 && hybrid.At5 >= scores[RelevanceMode.Dense].At5, "hybrid nDCG@5 is below a single mode");
    }

    /// <summary>
    /// Search embeds its query with embed's int8 query model (Embedding:QueryPrecision), alone in
    /// its run, while papers keep their fp32 vectors: the judged queries must rank as well so.
    /// </summary>
    [JudgedCorpusFact]
    public void Queries_embedded_by_the_int8_query_model_rank_as_well_as_fp32_queries()
    {
        using var queryModel = new MiniLmEmbedder(new EmbeddingOptions().ForQueries());
        Assert.Equal(MiniLmEmbedder.IdOf(EmbeddingPrecision.Int8), queryModel.ModelId);
        var int8 = corpus.Queries.ToDictionary(q => q.Id, q => queryModel.Embed(q.Text));
        var ranker = corpus.Ranker();
        output.WriteLine("| query vectors | mode | nDCG@5 | nDCG@10 | queries better / worse than fp32 at @10 |");
        output.WriteLine("|---|---|---|---|---|");
        foreach (var mode in new[] { RelevanceMode.Dense, RelevanceMode.Hybrid })
        {
            var fp32 = Evaluate(ranker, mode);
            var quantised = Evaluate(ranker, mode, q => new RelevanceQuery(q.Text, int8[q.Id]));
            var better = corpus.Queries.Count(q => quantised.PerQuery[q.Id] > fp32.PerQuery[q.Id] + 1e-9);
            var worse = corpus.Queries.Count(q => quantised.PerQuery[q.Id] < fp32.PerQuery[q.Id] - 1e-9);
            output.WriteLine($"| fp32 | {mode.ToString().ToLowerInvariant()} | {F(fp32.At5)} | {F(fp32.At10)} | – |");
            output.WriteLine($"| int8, one query per run | {mode.ToString().ToLowerInvariant()} | {F(quantised.At5)} | {F(quantised.At10)} | {better} / {worse} |");
            if (mode == RelevanceMode.Hybrid)
            {
                Assert.True(quantised.At5 >= fp32.At5 - 0.01, $"hybrid nDCG@5 with int8 queries {F(quantised.At5)} against {F(fp32.At5)}");
                Assert.True(quantised.At10 >= fp32.At10 - 0.01, $"hybrid nDCG@10 with int8 queries {F(quantised.At10)} against {F(fp32.At10)}");
            }
        }

        var cosines = corpus.Queries.Select(q => (double)TensorPrimitives.CosineSimilarity(int8[q.Id], corpus.QueryVectors[q.Id])).ToArray();
        output.WriteLine($"cosine of each query's int8 vector to its fp32 vector: mean {cosines.Average():F4}, min {cosines.Min():F4}");
    }

    /// <summary>The evidence for the fusion choice in docs/ranking.md: the alternatives, untuned, side by side.</summary>
    [JudgedCorpusFact]
    public void Fusion_alternatives_are_measured_for_the_record()
    {
        var baseline = Evaluate(corpus.Ranker(new RelevanceOptions { Fusion = RelevanceFusion.ReciprocalRank, RrfK = 60 }), RelevanceMode.Hybrid);
        output.WriteLine("| fusion | nDCG@5 | nDCG@10 | " + string.Join(" | ", Kinds().Select(k => $"@10 {k}")) + " | queries better / worse than RRF k=60 at @10 |");
        output.WriteLine("|---|---|---|" + string.Concat(Kinds().Select(_ => "---|")) + "---|");
        foreach (var (name, options) in new (string, RelevanceOptions)[]
        {
            ("RRF k=60 (default)", new RelevanceOptions()),
            ("RRF k=20", new RelevanceOptions { RrfK = 20 }),
            ("RRF k=100", new RelevanceOptions { RrfK = 100 }),
            ("RRF k=60, pool 50", new RelevanceOptions { CandidatePool = 50 }),
            ("score mix 0.5/0.5", new RelevanceOptions { Fusion = RelevanceFusion.ScoreMix }),
            ("score mix 0.7 dense", new RelevanceOptions { Fusion = RelevanceFusion.ScoreMix, DenseWeight = 0.7 }),
            ("score mix 0.3 dense", new RelevanceOptions { Fusion = RelevanceFusion.ScoreMix, DenseWeight = 0.3 }),
            ("score mix 0.5/0.5, pool 50", new RelevanceOptions { Fusion = RelevanceFusion.ScoreMix, CandidatePool = 50 }),
            ("score mix 0.5/0.5, pool 20", new RelevanceOptions { Fusion = RelevanceFusion.ScoreMix, CandidatePool = 20 }),
            ("BM25F title weight 1", new RelevanceOptions { TitleWeight = 1 }),
            ("BM25F title weight 3", new RelevanceOptions { TitleWeight = 3 }),
        })
        {
            var s = Evaluate(corpus.Ranker(options), RelevanceMode.Hybrid);
            var better = corpus.Queries.Count(q => s.PerQuery[q.Id] > baseline.PerQuery[q.Id] + 1e-9);
            var worse = corpus.Queries.Count(q => s.PerQuery[q.Id] < baseline.PerQuery[q.Id] - 1e-9);
            output.WriteLine($"| {name} | {F(s.At5)} | {F(s.At10)} | " + string.Join(" | ", Kinds().Select(k => F(s.At10ByKind[k]))) + $" | {better} / {worse} |");
            Assert.InRange(s.At10, 0, 1);
        }
    }

    private Scores Evaluate(RelevanceRanker ranker, RelevanceMode mode, Func<JudgedQuery, RelevanceQuery>? queryOf = null)
    {
        var at5 = new Dictionary<string, double>();
        var at10 = new Dictionary<string, double>();
        foreach (var q in corpus.Queries)
        {
            var ranked = ranker.Rank([(queryOf ?? corpus.QueryOf)(q)], 10, mode: mode).Select(h => h.Paper.Paper.Id).ToArray();
            at5[q.Id] = Ndcg.At(5, ranked, q.Relevant);
            at10[q.Id] = Ndcg.At(10, ranked, q.Relevant);
        }

        return new Scores(
            at5.Values.Average(),
            at10.Values.Average(),
            Kinds().ToDictionary(k => k, k => corpus.Queries.Where(q => q.Kind == k).Average(q => at10[q.Id])),
            at10);
    }

    private IEnumerable<string> Kinds() => corpus.Queries.Select(q => q.Kind).Distinct();

    private static string F(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);

    private sealed record Scores(double At5, double At10, IReadOnlyDictionary<string, double> At10ByKind, IReadOnlyDictionary<string, double> PerQuery);
}
