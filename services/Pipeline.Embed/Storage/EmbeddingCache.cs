using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Pipeline.Embed.Embedding;
using StackExchange.Redis;

namespace Pipeline.Embed.Storage;

/// <summary>
/// Vectors already computed, in embed's own Redis: key <c>embed:{cacheId}:{sha256 hex of the exact
/// text}</c>, value the 384 float32s as raw little-endian bytes. The cache id is the model id and a
/// fingerprint of its files (<see cref="Embedding.MiniLmEmbedder.CacheId"/>), so a model change
/// starts an empty cache instead of serving vectors from another model.
/// </summary>
/// <remarks>
/// The cache only saves model time: when Redis fails, is not connected or does not answer within
/// <see cref="EmbeddingOptions.CacheTimeout"/>, lookups count as misses and stores are skipped, so
/// embedding keeps its speed (and the readiness check reports the outage as degraded).
/// </remarks>
public sealed class EmbeddingCache(IDatabase redis, IOptions<EmbeddingOptions> options, ILogger<EmbeddingCache> logger)
{
    private readonly TimeSpan? _timeToLive = options.Value.CacheTimeToLive;
    private readonly TimeSpan _timeout = options.Value.CacheTimeout;

    public static string KeyFor(string cacheId, string text) =>
        $"embed:{cacheId}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))}";

    /// <summary>The cached vector of each text, or null where there is none.</summary>
    public async Task<float[]?[]> GetManyAsync(string cacheId, IReadOnlyList<string> texts)
    {
        if (texts.Count == 0)
        {
            return [];
        }

        if (!redis.Multiplexer.IsConnected)
        {
            return new float[]?[texts.Count];
        }

        RedisValue[] values;
        var lookup = redis.StringGetAsync(texts.Select(t => (RedisKey)KeyFor(cacheId, t)).ToArray());
        try
        {
            values = await lookup.WaitAsync(_timeout);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Observe(lookup);
            if (ShouldWarn())
            {
                logger.LogWarning(e, "Embedding cache lookup failed; embedding {Count} texts without it (further failures within 10 s are not logged)", texts.Count);
            }

            return new float[]?[texts.Count];
        }

        return values.Select(FromBytes).ToArray();
    }

    /// <summary>Stores one vector per text (same order); existing entries are overwritten with the same value.</summary>
    public async Task SetManyAsync(string cacheId, IReadOnlyList<string> texts, IReadOnlyList<float[]> vectors)
    {
        if (texts.Count != vectors.Count)
        {
            throw new ArgumentException("One vector per text is needed.", nameof(vectors));
        }

        if (texts.Count == 0 || !redis.Multiplexer.IsConnected)
        {
            return;
        }

        Task[] writes = [];
        try
        {
            // One pipelined round trip; MSET cannot set an expiry, so each SET carries its own.
            var batch = redis.CreateBatch();
            writes = new Task[texts.Count];
            for (var i = 0; i < texts.Count; i++)
            {
                writes[i] = batch.StringSetAsync(KeyFor(cacheId, texts[i]), ToBytes(vectors[i]), _timeToLive);
            }

            batch.Execute();
            await Task.WhenAll(writes).WaitAsync(_timeout);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            if (ShouldWarn())
            {
                logger.LogWarning(e, "Embedding cache store failed for {Count} texts; they will be embedded again next time (further failures within 10 s are not logged)", texts.Count);
            }

            foreach (var write in writes)
            {
                Observe(write);
            }
        }
    }

    private long _lastWarning = long.MinValue;

    /// <summary>At most one warning per 10 s: a frozen Redis would otherwise log one per call.</summary>
    private bool ShouldWarn()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastWarning);
        return (last == long.MinValue || now - last >= 10_000) && Interlocked.CompareExchange(ref _lastWarning, now, last) == last;
    }

    /// <summary>A command given up on still ends (or fails) later: observed, so its failure is not left unhandled.</summary>
    private static void Observe(Task? command) =>
        _ = command?.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);

    public static byte[] ToBytes(float[] vector) => MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();

    /// <summary>Anything that is not exactly one vector's bytes (a truncated write, another format) is a miss.</summary>
    public static float[]? FromBytes(RedisValue value)
    {
        if (value.IsNullOrEmpty)
        {
            return null;
        }

        var bytes = (byte[])value!;
        return bytes.Length == MiniLmEmbedder.Dimensions * sizeof(float)
            ? MemoryMarshal.Cast<byte, float>(bytes).ToArray()
            : null;
    }
}
