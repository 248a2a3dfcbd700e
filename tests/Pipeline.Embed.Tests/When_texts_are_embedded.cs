using System.Numerics.Tensors;
using Pipeline.Embed.Embedding;

namespace Pipeline.Embed.Tests;

[Collection(EmbedderCollection.Name)]
public sealed class When_texts_are_embedded(EmbedderFixture fixture)
{
    private readonly MiniLmEmbedder _embedder = fixture.Embedder;

    [Fact]
    public void Similarities_match_the_sentence_transformers_reference_values()
    {
        var v = _embedder.Embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]);

        // model.similarity(embeddings, embeddings) in sentence-transformers for all-MiniLM-L6-v2.
        Assert.Equal(0.6660, TensorPrimitives.CosineSimilarity<float>(v[0], v[1]), 1e-3);
        Assert.Equal(0.1046, TensorPrimitives.CosineSimilarity<float>(v[0], v[2]), 1e-3);
        Assert.Equal(0.1411, TensorPrimitives.CosineSimilarity<float>(v[1], v[2]), 1e-3);
    }

    [Fact]
    public void Every_vector_has_384_dimensions_and_unit_length()
    {
        var vectors = _embedder.Embed(["a", "Attention is all you need.", new string('x', 5000), ""]);

        Assert.All(vectors, v =>
        {
            Assert.Equal(MiniLmEmbedder.Dimensions, v.Length);
            Assert.Equal(1.0, TensorPrimitives.Norm<float>(v), 1e-5);
            Assert.All(v, x => Assert.True(float.IsFinite(x)));
        });
    }

    [Fact]
    public void A_batch_gives_each_text_the_same_vector_as_embedding_it_alone()
    {
        // Very different lengths, more texts than one batch (8 in the fixture), so the batch mixes
        // padding, sorting by length and several model runs.
        string[] texts =
        [
            "Short.",
            "Diffusion models beat GANs on image synthesis.",
            string.Join(' ', Enumerable.Repeat("We propose a new transformer architecture for long documents.", 40)),
            "",
            "Graph neural networks for molecule property prediction, evaluated on QM9 and ZINC.",
            "量子计算",
            string.Join(' ', Enumerable.Repeat("Reinforcement learning from human feedback.", 12)),
            "x",
            "A survey of retrieval-augmented generation.",
            "Sparse mixture-of-experts language models scale to a trillion parameters at constant compute.",
            "ok",
        ];

        var batched = _embedder.Embed(texts);

        for (var i = 0; i < texts.Length; i++)
        {
            var alone = _embedder.Embed(texts[i]);
            for (var d = 0; d < MiniLmEmbedder.Dimensions; d++)
            {
                Assert.True(Math.Abs(alone[d] - batched[i][d]) <= 1e-5,
                    $"text {i}, component {d}: alone {alone[d]} vs batched {batched[i][d]}");
            }
        }
    }

    [Fact]
    public void Vectors_come_back_in_the_order_of_the_texts()
    {
        var forward = _embedder.Embed(["cats", string.Join(' ', Enumerable.Repeat("a much longer sentence about dogs", 10))]);
        var backward = _embedder.Embed([string.Join(' ', Enumerable.Repeat("a much longer sentence about dogs", 10)), "cats"]);

        Assert.Equal(forward[0], backward[1], new ToleranceComparer(1e-5f));
        Assert.Equal(forward[1], backward[0], new ToleranceComparer(1e-5f));
    }

    [Fact]
    public void No_texts_give_no_vectors()
    {
        Assert.Empty(_embedder.Embed(Array.Empty<string>()));
    }

    [Fact]
    public void Concurrent_callers_get_the_same_vectors_as_one_caller()
    {
        const string text = "Concurrent inference shares one ONNX Runtime session.";
        var expected = _embedder.Embed(text);

        var results = Enumerable.Range(0, 8).AsParallel().WithDegreeOfParallelism(4).Select(_ => _embedder.Embed(text)).ToArray();

        Assert.All(results, r => Assert.Equal(expected, r, new ToleranceComparer(1e-6f)));
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
