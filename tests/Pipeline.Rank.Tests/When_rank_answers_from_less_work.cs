using System.Numerics.Tensors;
using Grpc.Core;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>The shortcuts behind rank's latency: integer dot products, kept trending answers, remembered query vectors.</summary>
public class When_rank_answers_from_less_work
{
    [Theory]
    [InlineData(384)]
    [InlineData(96)]
    [InlineData(33)]
    [InlineData(7)]
    public void The_int8_dot_product_is_the_exact_integer_sum(int length)
    {
        var random = new Random(length);
        var row = Enumerable.Range(0, length).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();
        var query = Enumerable.Range(0, length).Select(_ => (short)random.Next(-32767, 32768)).ToArray();
        // The extremes too: the sum must not overflow.
        row[0] = 127;
        query[0] = -32767;

        long expected = 0;
        for (var i = 0; i < length; i++)
        {
            expected += row[i] * query[i];
        }

        Assert.Equal(expected, VectorRows.DotInt8(row, query));
    }

    [Fact]
    public void An_int8_scan_scores_like_the_dequantized_vectors()
    {
        var data = new ClusteredVectors(3);
        var index = new PaperIndex(VectorPrecision.Int8) { ParallelThreshold = int.MaxValue };
        for (var i = 0; i < 500; i++)
        {
            index.Upsert(ClusteredVectors.PaperRecord($"p{i}"), data.Paper());
        }

        var queries = new[] { data.Near(1, 1.2f), data.Near(2, 1.2f) };
        foreach (var hit in index.Top(queries, 20))
        {
            Assert.True(index.TryGet(hit.Paper.Paper.Id, out _, out var stored));
            var exact = queries.Max(q => TensorPrimitives.Dot(q, stored));
            Assert.Equal(exact, hit.Relevance, 3);
        }
    }

    [Fact]
    public void A_kept_trending_answer_lasts_until_a_paper_or_a_vote_changes_or_it_is_old()
    {
        var papers = new PaperIndex();
        var feedback = new Feedback();
        var board = new TrendingBoard(papers, feedback);
        var now = DateTimeOffset.UnixEpoch.AddDays(100);
        papers.Upsert(PaperIndexSpecs.Paper("a", now.AddHours(-1)), PaperIndexSpecs.Unit((0, 1)));
        var answer = new RankedPapers();

        board.Keep(TrendingWindowKind.Day, "cs.LG", 10, board.Version, now, answer);
        Assert.Same(answer, board.Kept(TrendingWindowKind.Day, "CS.lg", 10, now.AddSeconds(1)));
        Assert.Null(board.Kept(TrendingWindowKind.Day, "cs.LG", 11, now));
        Assert.Null(board.Kept(TrendingWindowKind.Week, "cs.LG", 10, now));
        Assert.Null(board.Kept(TrendingWindowKind.Day, "cs.LG", 10, now + TrendingBoard.Lifetime));

        feedback.Vote("a", "voter", 1);
        Assert.Null(board.Kept(TrendingWindowKind.Day, "cs.LG", 10, now));

        board.Keep(TrendingWindowKind.Day, "cs.LG", 10, board.Version, now, answer);
        papers.Upsert(PaperIndexSpecs.Paper("b", now), PaperIndexSpecs.Unit((1, 1)));
        Assert.Null(board.Kept(TrendingWindowKind.Day, "cs.LG", 10, now));
    }

    [Fact]
    public void The_board_lists_the_window_hottest_first()
    {
        var papers = new PaperIndex();
        var feedback = new Feedback();
        var now = DateTimeOffset.UnixEpoch.AddDays(100);
        papers.Upsert(PaperIndexSpecs.Paper("old", now.AddDays(-3)), PaperIndexSpecs.Unit((0, 1)));
        papers.Upsert(PaperIndexSpecs.Paper("cold", now.AddHours(-20)), PaperIndexSpecs.Unit((0, 1)));
        papers.Upsert(PaperIndexSpecs.Paper("hot", now.AddHours(-2)), PaperIndexSpecs.Unit((0, 1)));
        feedback.Vote("cold", "v", 1);

        var top = new TrendingBoard(papers, feedback).Top(TrendingWindowKind.Day, "", 10, now);

        Assert.Equal(["hot", "cold"], top.Select(e => e.Paper.Paper.Id));
        Assert.Equal(1, top[1].Points);
        Assert.Equal(("no upvotes yet, 2 hours old", "1 upvote in 20 hours"), (top[0].Reason(now), top[1].Reason(now)));

        // A down vote that cancels the up vote leaves no points, but the paper has been voted on.
        feedback.Vote("cold", "w", -1);
        var after = new TrendingBoard(papers, feedback).Top(TrendingWindowKind.Day, "", 10, now);
        Assert.Equal((0, 0, "no net upvotes in 20 hours"), (after[1].Points, after[1].Votes, after[1].Reason(now)));
        feedback.Vote("cold", "x", -1);
        after = new TrendingBoard(papers, feedback).Top(TrendingWindowKind.Day, "", 10, now);
        Assert.Equal((0, -1, "no net upvotes in 20 hours"), (after[1].Points, after[1].Votes, after[1].Reason(now)));
        // Withdrawn, every vote: never voted on, as far as the page can tell.
        feedback.Vote("cold", "v", 0);
        feedback.Vote("cold", "w", 0);
        feedback.Vote("cold", "x", 0);
        after = new TrendingBoard(papers, feedback).Top(TrendingWindowKind.Day, "", 10, now);
        Assert.Equal("no upvotes yet, 20 hours old", after[1].Reason(now));
    }

    [Fact]
    public async Task A_repeated_text_is_embedded_once()
    {
        var embed = new CountingEmbedClient();
        var embedder = new TextEmbedder(embed);

        var first = await embedder.EmbedAsync(["diffusion models", "protein folding"], CancellationToken.None);
        var second = await embedder.EmbedAsync(["protein folding", "graph networks"], CancellationToken.None);

        Assert.Equal(["diffusion models", "protein folding", "graph networks"], embed.Asked);
        Assert.Equal(first[1], second[0]);
        Assert.Equal(CountingEmbedClient.VectorOf("protein folding"), second[0]);
        Assert.Equal(CountingEmbedClient.VectorOf("graph networks"), second[1]);

        // Each caller gets a copy: changing one changes neither the remembered vector nor another caller's.
        second[0][0] = 99;
        var third = await embedder.EmbedAsync(["protein folding"], CancellationToken.None);
        Assert.Equal(CountingEmbedClient.VectorOf("protein folding"), third[0]);
        Assert.Equal(CountingEmbedClient.VectorOf("protein folding"), first[1]);
    }

    [Fact]
    public async Task The_least_recently_used_text_is_forgotten_first_once_the_cache_is_full()
    {
        var embed = new CountingEmbedClient();
        var embedder = new TextEmbedder(embed);
        var texts = Enumerable.Range(0, TextEmbedder.CacheCapacity).Select(i => $"topic {i}").ToArray();
        await embedder.EmbedAsync(texts, CancellationToken.None);
        await embedder.EmbedAsync(["topic 0"], CancellationToken.None); // used again: now the most recent
        Assert.Equal(TextEmbedder.CacheCapacity, embed.Asked.Count);

        // One more text: "topic 1", the least recently used, leaves; "topic 0" stays.
        await embedder.EmbedAsync(["one more"], CancellationToken.None);
        Assert.Equal(TextEmbedder.CacheCapacity, embedder.Remembered);
        var again = await embedder.EmbedAsync(["topic 0", "topic 2", "topic 1"], CancellationToken.None);
        Assert.Equal(["one more", "topic 1"], embed.Asked.Skip(TextEmbedder.CacheCapacity));
        Assert.Equal(new[] { "topic 0", "topic 2", "topic 1" }.Select(CountingEmbedClient.VectorOf), again);

        // Asking "topic 1" again put it back in place of the next least recently used, "topic 3".
        await embedder.EmbedAsync(["topic 3", "topic 1", "one more"], CancellationToken.None);
        Assert.Equal(["one more", "topic 1", "topic 3"], embed.Asked.Skip(TextEmbedder.CacheCapacity));
    }

    [Fact]
    public async Task A_search_query_goes_to_the_query_model_and_is_remembered_apart_from_the_same_interest()
    {
        var embed = new CountingEmbedClient();
        var embedder = new TextEmbedder(embed);

        var interest = await embedder.EmbedAsync(["diffusion models"], CancellationToken.None);
        var query = await embedder.EmbedAsync(["diffusion models"], TextKind.Query, CancellationToken.None);
        var queryAgain = await embedder.EmbedAsync(["diffusion models"], TextKind.Query, CancellationToken.None);
        var interestAgain = await embedder.EmbedAsync(["diffusion models"], CancellationToken.None);

        Assert.Equal([(TextKind.Document, "diffusion models"), (TextKind.Query, "diffusion models")], embed.AskedWithKind);
        Assert.NotEqual(interest[0], query[0]);
        Assert.Equal(query[0], queryAgain[0]);
        Assert.Equal(interest[0], interestAgain[0]);
    }

    private sealed class CountingEmbedClient : EmbedService.EmbedServiceClient
    {
        public List<string> Asked { get; } = [];

        public List<(TextKind Kind, string Text)> AskedWithKind { get; } = [];

        public static float[] VectorOf(string text) => [text.Length, text.GetHashCode(StringComparison.Ordinal)];

        public override AsyncUnaryCall<EmbedResponse> EmbedAsync(EmbedRequest request, Metadata? headers = null, DateTime? deadline = null, CancellationToken cancellationToken = default)
        {
            Asked.AddRange(request.Texts);
            var kind = request.Kind == TextKind.Unspecified ? TextKind.Document : request.Kind;
            AskedWithKind.AddRange(request.Texts.Select(t => (kind, t)));
            var response = new EmbedResponse();
            foreach (var text in request.Texts)
            {
                var embedding = new Embedding();
                // A query model's vector differs from the document model's for the same text.
                embedding.Values.Add(kind == TextKind.Query ? [text.Length, -1] : VectorOf(text));
                response.Embeddings.Add(embedding);
            }

            return new AsyncUnaryCall<EmbedResponse>(Task.FromResult(response), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
        }
    }
}
