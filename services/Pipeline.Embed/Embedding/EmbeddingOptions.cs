namespace Pipeline.Embed.Embedding;

/// <summary>How the model runs; bound from the configuration section <c>Embedding</c>.</summary>
public sealed class EmbeddingOptions
{
    public const string SectionName = "Embedding";

    /// <summary>
    /// Threads ONNX Runtime uses inside one model run. One, with one run per core: measured on two
    /// cores, two single-threaded runs embed 15% (fp32) to 33% (int8) more papers per second than
    /// one run on both cores, which loses time joining its threads at every operator.
    /// </summary>
    public int IntraOpThreads { get; set; } = 1;

    /// <summary>
    /// Model runs at the same time across gRPC calls and bus messages; unset means cores divided by
    /// <see cref="IntraOpThreads"/>. Callers beyond that queue, and queued texts share the next run.
    /// </summary>
    public int? MaxConcurrentRuns { get; set; }

    public int EffectiveConcurrentRuns =>
        MaxConcurrentRuns is > 0 and var n ? n : Math.Max(1, Environment.ProcessorCount / Math.Max(1, IntraOpThreads));

    /// <summary>
    /// Texts in one model run. Small batches keep a run's activations in cache: at 256 word pieces
    /// a text is already a 256-row matrix product. Fused runs of 4 did 13% more papers per
    /// CPU-second than the exported model in runs of 8 (docs/benchmarks.md); runs of 1 were within
    /// noise of 4. Above 1 so that callers waiting together still share a run.
    /// </summary>
    public int MaxBatchSize { get; set; } = 4;

    /// <summary>The most texts one gRPC <c>Embed</c> call may carry (ModelInfo.max_texts_per_call).</summary>
    public int MaxTextsPerCall { get; set; } = 256;

    /// <summary>
    /// How long a cached vector lives in embed's Redis. The cache only saves model time (a miss
    /// re-embeds), so old entries may go; null keeps them until Redis evicts them.
    /// </summary>
    public TimeSpan? CacheTimeToLive { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a cache lookup or store may take before embedding goes on without it (a lookup
    /// then counts as misses). Redis answers in well under a millisecond; a Redis that is down or
    /// frozen would otherwise hold every call for the client's 5 s command timeout.
    /// </summary>
    public TimeSpan CacheTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The most texts waiting for the model per batcher (per model) before calls are refused with
    /// RESOURCE_EXHAUSTED: Embed is open, and each text may be long, so the queue cannot grow
    /// without bound. A rebuild's page (1,000 papers) and a busy search load fit well within it.
    /// </summary>
    public int MaxQueuedTexts { get; set; } = 4096;

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

    /// <summary>
    /// The precision search queries are embedded in (EmbedRequest.kind = TEXT_KIND_QUERY). Int8
    /// (default): a second, int8 copy of the model, each query in a run of its own, so a query's
    /// vector never depends on what else was embedded with it; a short query then takes about a
    /// third of the fp32 time and ranks as well on the judged queries (docs/embedding.md). The
    /// same value as <see cref="Precision"/> embeds queries like documents, with no second model.
    /// </summary>
    public EmbeddingPrecision QueryPrecision { get; set; } = EmbeddingPrecision.Int8;

    /// <summary>Whether queries have a model of their own (<see cref="QueryPrecision"/> differs from <see cref="Precision"/>).</summary>
    public bool SeparateQueryModel => QueryPrecision != Precision;

    /// <summary>These options for the query model: its precision, and runs of one text.</summary>
    public EmbeddingOptions ForQueries()
    {
        var queries = (EmbeddingOptions)MemberwiseClone();
        queries.Precision = QueryPrecision;
        queries.MaxBatchSize = 1;
        return queries;
    }

    /// <summary>
    /// fp32: rewrite each layer's self-attention into one ONNX Runtime MultiHeadAttention kernel at
    /// load (<see cref="TransformerFusion"/>; logged at startup). Same vectors within float rounding,
    /// so the model id does not change; runs then hold texts of one length only. False runs the
    /// model as exported. Int8 always runs the exported graph.
    /// </summary>
    public bool FuseAttention { get; set; } = true;
}

/// <summary>The arithmetic the model runs in.</summary>
public enum EmbeddingPrecision
{
    Fp32,
    Int8,
}
