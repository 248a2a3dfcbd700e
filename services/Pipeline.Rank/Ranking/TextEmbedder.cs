using Grpc.Core;
using Pipeline.Contracts.Embed.V1;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// Embeds query and interest text through the embed service's gRPC API, remembering the vectors of
/// the last <see cref="CacheCapacity"/> texts (least recently used out): a repeated query (the next
/// page, a popular search, an interest given again) skips the model run and the round trip. A new
/// text always goes to embed; the benchmark asks only new texts (docs/benchmarks.md).
/// </summary>
public sealed class TextEmbedder(EmbedService.EmbedServiceClient client)
{
    public const int CacheCapacity = 1_024;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<(string Text, float[] Vector)>> _cache = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Text, float[] Vector)> _recent = new();

    public async Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        if (texts.Count == 0)
        {
            return [];
        }

        var vectors = new float[texts.Count][];
        var missing = new List<int>();
        lock (_lock)
        {
            for (var i = 0; i < texts.Count; i++)
            {
                if (_cache.TryGetValue(texts[i], out var node))
                {
                    _recent.Remove(node);
                    _recent.AddFirst(node);
                    vectors[i] = node.Value.Vector;
                }
                else
                {
                    missing.Add(i);
                }
            }
        }

        if (missing.Count == 0)
        {
            return vectors;
        }

        var request = new EmbedRequest();
        request.Texts.AddRange(missing.Select(i => texts[i]));
        var response = await client.EmbedAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        if (response.Embeddings.Count != missing.Count)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"embed answered {response.Embeddings.Count} vectors for {missing.Count} texts"));
        }

        lock (_lock)
        {
            for (var j = 0; j < missing.Count; j++)
            {
                var (text, vector) = (texts[missing[j]], response.Embeddings[j].Values.ToArray());
                vectors[missing[j]] = vector;
                if (_cache.ContainsKey(text))
                {
                    continue;
                }

                _cache[text] = _recent.AddFirst((text, vector));
                if (_cache.Count > CacheCapacity)
                {
                    _cache.Remove(_recent.Last!.Value.Text);
                    _recent.RemoveLast();
                }
            }
        }

        return vectors;
    }
}
