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
/// <remarks>
/// The remembered vectors live in one block allocated once, and the recency order in two arrays of
/// slot numbers: a new text costs the cache no object but its key. Each remembered vector used to
/// be an array and a list node of its own; at 600 new searches a second they outlived the young
/// generations and died in the old one, growing rank's heap by about 1 MB a second under load
/// (docs/benchmarks.md, "The query cache's garbage"). A caller gets its own copy of a vector.
/// </remarks>
public sealed class TextEmbedder(EmbedService.EmbedServiceClient client)
{
    public const int CacheCapacity = 1_024;

    private readonly Lock _lock = new();
    private readonly Dictionary<(TextKind Kind, string Text), int> _slots = new(CacheCapacity);
    private readonly (TextKind Kind, string Text)[] _keys = new (TextKind, string)[CacheCapacity];
    private readonly int[] _newer = new int[CacheCapacity];
    private readonly int[] _older = new int[CacheCapacity];
    private float[]? _vectors; // CacheCapacity rows of _dimensions, made with the first vector
    private int _dimensions;
    private int _used;
    private int _newest = -1;
    private int _oldest = -1;

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
                if (_slots.TryGetValue((kind, texts[i]), out var slot))
                {
                    MakeNewest(slot);
                    vectors[i] = Row(slot).ToArray();
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
                Remember((kind, text), vector);
            }
        }

        return vectors;
    }

    /// <summary>How many texts are remembered now (at most <see cref="CacheCapacity"/>).</summary>
    public int Remembered
    {
        get
        {
            lock (_lock)
            {
                return _slots.Count;
            }
        }
    }

    private Span<float> Row(int slot) => _vectors.AsSpan(slot * _dimensions, _dimensions);

    private void Remember((TextKind Kind, string Text) key, float[] vector)
    {
        if (_slots.ContainsKey(key) || vector.Length == 0)
        {
            return;
        }

        if (_vectors is null)
        {
            _dimensions = vector.Length;
            _vectors = new float[CacheCapacity * _dimensions];
        }

        if (vector.Length != _dimensions)
        {
            return; // another model's length: answered, not remembered
        }

        int slot;
        if (_used < CacheCapacity)
        {
            slot = _used++;
        }
        else
        {
            // The least recently used leaves; its slot takes the new text.
            slot = _oldest;
            Unlink(slot);
            _slots.Remove(_keys[slot]);
        }

        _keys[slot] = key;
        _slots[key] = slot;
        vector.CopyTo(Row(slot));
        LinkNewest(slot);
    }

    private void MakeNewest(int slot)
    {
        if (slot != _newest)
        {
            Unlink(slot);
            LinkNewest(slot);
        }
    }

    private void LinkNewest(int slot)
    {
        _older[slot] = _newest;
        _newer[slot] = -1;
        if (_newest >= 0)
        {
            _newer[_newest] = slot;
        }

        _newest = slot;
        if (_oldest < 0)
        {
            _oldest = slot;
        }
    }

    private void Unlink(int slot)
    {
        var (newer, older) = (_newer[slot], _older[slot]);
        if (newer >= 0)
        {
            _older[newer] = older;
        }
        else
        {
            _newest = older;
        }

        if (older >= 0)
        {
            _newer[older] = newer;
        }
        else
        {
            _oldest = newer;
        }
    }
}
