using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using static Pipeline.Rank.Tests.Relevance.TestPapers;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>
/// A hybrid ranking that is the only one in flight ranks its dense and lexical sides at once, on
/// two cores (<see cref="RelevanceRanker.ConcurrentSides"/>): the same answer, sooner.
/// </summary>
public sealed class When_a_ranking_runs_alone
{
    private static readonly string[] Words =
    [
        "diffusion", "model", "graph", "neural", "network", "protocol", "fuzzing", "language", "learning", "robot",
        "policy", "vision", "transformer", "attention", "sparse", "kernel", "quantum", "circuit", "retrieval", "ranking",
        "benchmark", "dataset", "method", "results", "show", "propose", "based", "approach", "efficient", "scalable",
    ];

    private static (PaperIndex Index, RelevanceRanker Ranker, ClusteredVectors Vectors) Corpus(int papers)
    {
        var vectors = new ClusteredVectors(11, topics: 40);
        var random = new Random(5);
        // int8 with the prefilter, as the service ranks 100,000 papers.
        var index = new PaperIndex(VectorPrecision.Int8) { PrefilterFrom = 0, PrefilterCandidates = 200 };
        var ranker = new RelevanceRanker(index);
        string Text(int words) => string.Join(' ', Enumerable.Range(0, words).Select(_ => Words[random.Next(Words.Length)]));
        for (var i = 0; i < papers; i++)
        {
            var paper = Paper($"p{i}", Text(6), Text(40));
            index.Upsert(paper, vectors.Paper());
            ranker.Add(paper);
        }

        return (index, ranker, vectors);
    }

    private static RelevanceQuery[][] Interests(ClusteredVectors vectors, int count)
    {
        var random = new Random(9);
        return Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, 1 + random.Next(5))
                .Select(_ => new RelevanceQuery($"{Words[random.Next(Words.Length)]} {Words[random.Next(Words.Length)]}", vectors.Near(random.Next(40))))
                .ToArray())
            .ToArray();
    }

    [Fact]
    public void Both_sides_at_once_answer_exactly_what_they_answer_in_turn()
    {
        var (_, ranker, vectors) = Corpus(3_000);
        var include = (IndexedPaper p) => !p.Paper.Id.EndsWith('7');
        foreach (var (queries, i) in Interests(vectors, 40).Select((q, i) => (q, i)))
        {
            var filter = i % 2 == 0 ? include : null;
            ranker.ConcurrentSides = false;
            var inTurn = ranker.Rank(queries, 10 + i, filter);
            var before = ranker.ConcurrentFusions;
            ranker.ConcurrentSides = true;
            var atOnce = ranker.Rank(queries, 10 + i, filter);

            // On this machine's two cores (CI's too) the sides did run at once.
            Assert.Equal(Environment.ProcessorCount > 1 ? before + 1 : before, ranker.ConcurrentFusions);
            Assert.NotEmpty(atOnce);
            Assert.Equal(
                inTurn.Select(h => (h.Paper.Paper.Id, h.Score, h.Dense, h.Lexical, h.BestQuery)),
                atOnce.Select(h => (h.Paper.Paper.Id, h.Score, h.Dense, h.Lexical, h.BestQuery)));
        }
    }

    [Fact]
    public async Task A_ranking_with_another_in_flight_runs_its_sides_in_turn()
    {
        var (_, ranker, vectors) = Corpus(500);
        var queries = Interests(vectors, 2);
        var release = new ManualResetEventSlim();
        var inside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var before = ranker.ConcurrentFusions;

        // The first ranking is held inside its filter, so it stays in flight.
        var first = Task.Run(() => ranker.Rank(queries[0], 10, _ =>
        {
            inside.TrySetResult();
            return release.Wait(TimeSpan.FromSeconds(30));
        }));
        await inside.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var started = ranker.ConcurrentFusions;

        var second = ranker.Rank(queries[1], 10);

        Assert.NotEmpty(second);
        Assert.Equal(started, ranker.ConcurrentFusions);
        release.Set();
        Assert.NotEmpty(await first.WaitAsync(TimeSpan.FromSeconds(30)));
        // The first one, alone when it began, ran its sides at once.
        Assert.Equal(Environment.ProcessorCount > 1 ? before + 1 : before, started);

        // Alone again: at once again.
        ranker.Rank(queries[1], 10);
        Assert.Equal(started + (Environment.ProcessorCount > 1 ? 1 : 0), ranker.ConcurrentFusions);
    }

    [Fact]
    public void What_a_side_throws_reaches_the_caller_as_it_was_thrown()
    {
        var (_, ranker, vectors) = Corpus(200);
        var queries = Interests(vectors, 1)[0];
        foreach (var concurrent in new[] { true, false })
        {
            ranker.ConcurrentSides = concurrent;
            var thrown = Assert.Throws<InvalidOperationException>(() => ranker.Rank(queries, 10, _ => throw new InvalidOperationException("filter failed")));
            Assert.Equal("filter failed", thrown.Message);
        }
    }
}
