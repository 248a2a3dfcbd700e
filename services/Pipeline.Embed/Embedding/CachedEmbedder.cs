using Pipeline.Embed.Storage;

namespace Pipeline.Embed.Embedding;

/// <summary>
/// What the gRPC API and the bus consumer both do: look every text up in the cache, embed the
/// misses (sharing a model run with other callers), store what was computed.
/// </summary>
public sealed class CachedEmbedder(EmbeddingBatcher batcher, EmbeddingCache cache)
{
    public string ModelId => batcher.ModelId;

    /// <summary>
    /// One vector per text, in order, and how many of them came from the cache. <paramref name="bounded"/>:
    /// see <see cref="EmbeddingBatcher.EmbedAsync"/> (false for the bus consumer only).
    /// </summary>
    public async Task<(float[][] Vectors, int CacheHits)> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken, bool bounded = true)
    {
        var cached = await cache.GetManyAsync(batcher.CacheId, texts);
        var vectors = new float[texts.Count][];

        // Identical texts in one call are embedded once.
        var misses = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < texts.Count; i++)
        {
            if (cached[i] is { } vector)
            {
                vectors[i] = vector;
            }
            else if (misses.TryGetValue(texts[i], out var positions))
            {
                positions.Add(i);
            }
            else
            {
                misses[texts[i]] = [i];
            }
        }

        var hits = texts.Count - misses.Values.Sum(p => p.Count);
        if (misses.Count > 0)
        {
            var missingTexts = misses.Keys.ToArray();
            var computed = await batcher.EmbedAsync(missingTexts, cancellationToken, bounded);
            for (var m = 0; m < missingTexts.Length; m++)
            {
                foreach (var i in misses[missingTexts[m]])
                {
                    vectors[i] = computed[m];
                }
            }

            await cache.SetManyAsync(batcher.CacheId, missingTexts, computed);
        }

        return (vectors, hits);
    }
}
