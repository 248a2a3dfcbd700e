using Pipeline.Embed.Embedding;

namespace Pipeline.Embed.Tests;

/// <summary>Loads the model once for every test class that shares it (loading takes about a second).</summary>
public sealed class EmbedderFixture : IDisposable
{
    public MiniLmEmbedder Embedder { get; } = new(new EmbeddingOptions { IntraOpThreads = 2, MaxBatchSize = 8 });

    /// <summary>The same model quantised to int8 at load.</summary>
    public MiniLmEmbedder Int8Embedder { get; } = new(new EmbeddingOptions { IntraOpThreads = 2, MaxBatchSize = 8, Precision = EmbeddingPrecision.Int8 });

    /// <summary>The model as exported, without the attention fusion (Embedding:FuseAttention = false).</summary>
    public MiniLmEmbedder UnfusedEmbedder { get; } = new(new EmbeddingOptions { IntraOpThreads = 2, MaxBatchSize = 8, FuseAttention = false });

    public void Dispose()
    {
        Embedder.Dispose();
        Int8Embedder.Dispose();
        UnfusedEmbedder.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class EmbedderCollection : ICollectionFixture<EmbedderFixture>
{
    public const string Name = "MiniLM model";
}
