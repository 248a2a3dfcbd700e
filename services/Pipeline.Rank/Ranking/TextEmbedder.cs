using Grpc.Core;
using Pipeline.Contracts.Embed.V1;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// Embeds query and interest text through the embed service's gRPC API, remembering the vectors of
/// the last <see cref="CacheCapacity"/> texts (least recently used out): a repeated query (the next
/// page, a popular search, an interest given again) skips the model run and the round trip. A new
/// text always goes to embed; the benchmark asks only new texts (docs/benchmarks.md). Search
/// queries are sent as <see cref="TextKind.Query"/> (embed's faster query model), interests as
/// documents; the same text as both is remembered twice.
/// </summary>
public sealed class TextEmbedder(EmbedService.EmbedServiceClient client)
{
    public const int CacheCapacity = 1_024;

    private readonly Lock _lock = new();
    private readonly Dictionary<(TextKind Kind, string Text), LinkedListNode<(TextKind Kind, string Text, float[] Vector)>> _cache = new();
    private readonly LinkedList<(TextKind Kind, string Text, float[] Vector)> _recent = new();

    /// <summary>Interests and other texts kept to compare against later: embed's document model.</summary>
    public Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken) =>
        EmbedAsync(texts, TextKind.Document, cancellationToken);

    public async Task<IReadOnlyList<float[]>> EmbedAsync(IReadOnlyList<string> texts, TextKind kind, CancellationToken cancellationToken)
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
                if (_cache.TryGetValue((kind, texts[i]), out var node))
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

        var request = new EmbedRequest { Kind = kind };
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
                if (_cache.ContainsKey((kind, text)))
                {
                    continue;
                }

                _cache[(kind, text)] = _recent.AddFirst((kind, text, vector));
                if (_cache.Count > CacheCapacity)
                {
                    _cache.Remove((_recent.Last!.Value.Kind, _recent.Last.Value.Text));
                    _recent.RemoveLast();
                }
            }
        }

        return vectors;
    }
}
