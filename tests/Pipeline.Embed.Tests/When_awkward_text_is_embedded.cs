using System.Numerics.Tensors;
using Pipeline.Embed.Embedding;

namespace Pipeline.Embed.Tests;

[Collection(EmbedderCollection.Name)]
public sealed class When_awkward_text_is_embedded(EmbedderFixture fixture)
{
    private readonly MiniLmEmbedder _embedder = fixture.Embedder;

    public static TheoryData<string, string> AwkwardTexts => new()
    {
        { "empty", "" },
        { "whitespace only", " \t\r\n  " },
        { "control characters", "a\0b\u0001c\u0007d\u001b[31me\u007f\u200b\ufeff\ufffd" },
        { "Chinese", "我们提出了一种新的神经网络架构。" },
        { "Arabic", "نقترح بنية جديدة للشبكات العصبية." },
        { "emoji", "🚀🔥 papers 👩‍🔬🧬 are trending 📈" },
        { "lone surrogates", "broken \ud800 surrogate \udc00 pair" },
        { "mixed scripts", "Transformer Трансформер トランスフォーマー 트랜스포머 Ελληνικά" },
    };

    [Theory]
    [MemberData(nameof(AwkwardTexts))]
    public void It_embeds_to_a_unit_vector_without_error(string kind, string text)
    {
        var vector = _embedder.Embed(text);

        Assert.Equal(MiniLmEmbedder.Dimensions, vector.Length);
        Assert.True(Math.Abs(TensorPrimitives.Norm<float>(vector) - 1) < 1e-5, kind);
    }

    [Fact]
    public void A_one_megabyte_text_is_truncated_not_refused()
    {
        var text = string.Concat(Enumerable.Repeat("Large language models memorise their training data. ", 1 + (1 << 20) / 52));
        Assert.True(text.Length >= 1 << 20);

        var vector = _embedder.Embed(text);

        Assert.Equal(MiniLmEmbedder.Dimensions, vector.Length);
        Assert.Equal(1.0, TensorPrimitives.Norm<float>(vector), 1e-5);
    }

    [Fact]
    public void Text_after_the_first_256_word_pieces_does_not_change_the_vector()
    {
        // Each word of the prefix is one word piece, so 300 words are well past the limit.
        var prefix = string.Join(' ', Enumerable.Range(0, 300).Select(i => i % 2 == 0 ? "paper" : "model"));

        var truncated = _embedder.Embed(prefix);
        var longer = _embedder.Embed(prefix + " and a completely different ending about volcanoes, music and cooking");

        for (var d = 0; d < MiniLmEmbedder.Dimensions; d++)
        {
            Assert.Equal(truncated[d], longer[d], 1e-6f);
        }
    }

    [Fact]
    public void Text_within_256_word_pieces_is_not_truncated()
    {
        // The control for the test above: the same extra words change a short text's vector.
        var prefix = string.Join(' ', Enumerable.Range(0, 100).Select(i => i % 2 == 0 ? "paper" : "model"));

        var shorter = _embedder.Embed(prefix);
        var longer = _embedder.Embed(prefix + " and a completely different ending about volcanoes, music and cooking");

        Assert.True(TensorPrimitives.CosineSimilarity<float>(shorter, longer) < 0.9999f);
    }
}
