namespace Pipeline.Embed.Embedding;

/// <summary>How the model runs; bound from the configuration section <c>Embedding</c>.</summary>
public sealed class EmbeddingOptions
{
    public const string SectionName = "Embedding";

    /// <summary>
    /// Threads ONNX Runtime uses inside one model run. One run per core pair is the sweet spot on
    /// small machines; more threads than cores only adds contention.
    /// </summary>
    public int IntraOpThreads { get; set; } = Math.Min(2, Environment.ProcessorCount);

    /// <summary>
    /// Model runs at the same time across gRPC calls and bus messages; unset means cores divided by
    /// <see cref="IntraOpThreads"/>. Callers beyond that queue, and queued texts share the next run.
    /// </summary>
    public int? MaxConcurrentRuns { get; set; }

    public int EffectiveConcurrentRuns =>
        MaxConcurrentRuns is > 0 and var n ? n : Math.Max(1, Environment.ProcessorCount / Math.Max(1, IntraOpThreads));

    /// <summary>
    /// Texts padded into one model run. On two cores 16 to 32 is the fastest; larger batches spend
    /// more on padding and cache misses than they save.
    /// </summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>The most texts one gRPC <c>Embed</c> call may carry (ModelInfo.max_texts_per_call).</summary>
    public int MaxTextsPerCall { get; set; } = 256;

    /// <summary>
    /// How long a cached vector lives in embed's Redis. The cache only saves model time (a miss
    /// re-embeds), so old entries may go; null keeps them until Redis evicts them.
    /// </summary>
    public TimeSpan? CacheTimeToLive { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// PaperIngested messages in flight per instance. Enough to fill a batch: their texts queue
    /// together and share model runs. At most the bus prefetch (16 by default) is delivered at once.
    /// </summary>
    public int ConsumerConcurrency { get; set; } = 16;

    /// <summary>
    /// Fp32 runs the model as published. Int8 quantises its weight matrices at startup and runs
    /// them on ONNX Runtime's integer kernels: faster, vectors slightly different (docs/embedding.md
    /// has the numbers). The model id, and so the cache, differs by precision.
    /// </summary>
    public EmbeddingPrecision Precision { get; set; } = EmbeddingPrecision.Fp32;
}

/// <summary>The arithmetic the model runs in.</summary>
public enum EmbeddingPrecision
{
    Fp32,
    Int8,
}
