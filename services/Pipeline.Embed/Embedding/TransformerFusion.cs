using System.Runtime.InteropServices;
using Google.Protobuf;
using Pipeline.Embed.Embedding.Onnx;

namespace Pipeline.Embed.Embedding;

/// <summary>
/// Rewrites a BERT-style ONNX export so ONNX Runtime runs each layer's self-attention as one
/// <c>com.microsoft.MultiHeadAttention</c> kernel, the fusion that onnxruntime.transformers'
/// (Python only) optimizer makes and ONNX Runtime's own graph optimizer does not make for this export.
/// The fused model takes no attention mask: run it only on rows without padding.
/// </summary>
/// <remarks>
/// <para>
/// Self-attention in the export is fourteen nodes per layer plus the shape arithmetic around them:
/// the Q, K and V bias adds, reshapes and transposes to heads, QKᵀ, the division by √d, the added
/// mask, softmax, ·V, and the transpose and reshape back. Unfused, ONNX Runtime writes the
/// batch × heads × S × S scores to memory and reads them back three times (product, mask add,
/// softmax) and copies Q, K and V through transposes. The fused kernel adds the biases while it lays
/// Q, K and V out by head and, given no mask, runs MLAS's flash attention, which computes the
/// scores block by block inside the L2 cache. The Q, K and V projections stay separate
/// <c>MatMul</c>s, so the int8 rewrite still quantises them.
/// </para>
/// <para>
/// The mask is dropped on purpose: MultiHeadAttention with a key padding mask falls back to the
/// same materialised scores as the unfused graph and measured no faster. A row without padding
/// has a mask of all ones, which adds nothing, so the fused model computes the same numbers for
/// it (up to float rounding order: hidden states within about 5e-6). <see cref="MiniLmEmbedder"/>
/// therefore puts only texts of equal length into one run of the fused model.
/// </para>
/// <para>
/// The rewrite matches the exact structure it replaces (including that the mask comes from a graph
/// input through the export's <c>(1 − mask) × filter</c>) and leaves anything else alone: an export
/// that does not match runs unfused rather than wrong, and <see cref="Result.Attentions"/> says how
/// many layers were fused. Fusing the residual adds into <c>SkipLayerNormalization</c> as well was
/// tried and measured 6% slower (ONNX Runtime's CPU kernel for it is slower than its own
/// <c>LayerNormalization</c> fusion plus the adds), so it is not done.
/// </para>
/// </remarks>
public static class TransformerFusion
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>What the rewrite did: the new model and how many layers' attention it fused.</summary>
    public sealed record Result(byte[] Model, int Attentions, int NodesBefore, int NodesAfter, IReadOnlyList<string> DroppedInputs);

    public static Result Fuse(byte[] model)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph ?? throw new InvalidOperationException("The model has no graph.");
        var nodesBefore = graph.Node.Count;

        var attentions = FuseAttention(graph, new GraphView(graph));
        if (attentions == 0)
        {
            return new Result(model, 0, nodesBefore, nodesBefore, []);
        }

        RemoveDeadNodes(graph);
        // The mask input is read by nothing any more; drop it so nobody feeds a mask the model ignores.
        var read = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var dropped = graph.Input.Where(i => !read.Contains(i.Name)).ToArray();
        foreach (var input in dropped)
        {
            graph.Input.Remove(input);
        }

        if (!proto.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }

        return new Result(proto.ToByteArray(), attentions, nodesBefore, graph.Node.Count, [.. dropped.Select(i => i.Name)]);
    }

    private static int FuseAttention(GraphProto graph, GraphView view)
    {
        var fused = 0;
        foreach (var softmax in graph.Node.Where(n => Is(n, "Softmax")).ToArray())
        {
            if (!TryMatchAttention(view, softmax, out var match))
            {
                continue;
            }

            var biasName = $"fusion_attention_{fused}_qkv_bias";
            graph.Initializer.Add(FloatTensor(biasName, [.. match.QBias, .. match.KBias, .. match.VBias], match.QBias.Length * 3));

            var attention = new NodeProto { Name = $"fusion_attention_{fused}", OpType = "MultiHeadAttention", Domain = MicrosoftDomain };
            // query, key, value (each B × S × hidden, before bias), bias (3 × hidden); no key padding mask.
            attention.Input.Add([match.Query, match.Key, match.Value, biasName]);
            attention.Output.Add(match.Output.Output[0]);
            attention.Attribute.Add(new AttributeProto { Name = "num_heads", Type = AttributeProto.Types.AttributeType.Int, I = match.Heads });
            attention.Attribute.Add(new AttributeProto { Name = "scale", Type = AttributeProto.Types.AttributeType.Float, F = match.Scale });

            // In place of the final reshape: every input of the fused node is computed before it.
            graph.Node[graph.Node.IndexOf(match.Output)] = attention;
            fused++;
        }

        return fused;
    }

    private sealed record AttentionMatch(
        string Query, string Key, string Value, float[] QBias, float[] KBias, float[] VBias,
        long Heads, float Scale, NodeProto Output);

    /// <summary>
    /// Softmax(QKᵀ / c + mask)·V with Q, K and V each MatMul → Add(bias) → Reshape(B, S, heads,
    /// head size) → Transpose to heads, and the result transposed and reshaped back to (B, S, hidden).
    /// </summary>
    private static bool TryMatchAttention(GraphView view, NodeProto softmax, out AttentionMatch match)
    {
        match = null!;
        if (Attribute(softmax, "axis") is { } axis && axis.I is not (-1 or 3))
        {
            return false;
        }

        // Scores: Add(scaled QKᵀ, mask term), either order.
        if (view.Producer(softmax.Input[0]) is not { } addMask || !Is(addMask, "Add") || addMask.Input.Count != 2)
        {
            return false;
        }

        NodeProto? scaled = null;
        var maskTerm = "";
        float scale = 0;
        foreach (var (candidate, other) in new[] { (addMask.Input[0], addMask.Input[1]), (addMask.Input[1], addMask.Input[0]) })
        {
            if (view.Producer(candidate) is { } s && (Is(s, "Div") || Is(s, "Mul")) && view.TryFloatScalar(s.Input[1], out var c) && c != 0)
            {
                scaled = s;
                maskTerm = other;
                scale = Is(s, "Div") ? 1 / c : c;
                break;
            }
        }

        if (scaled is null || view.Producer(scaled.Input[0]) is not { } qk || !Is(qk, "MatMul")
            || !TryMatchHeads(view, qk.Input[0], [0, 2, 1, 3], out var query, out var qBias, out var heads, out var x)
            || !TryMatchHeads(view, qk.Input[1], [0, 2, 3, 1], out var key, out var kBias, out var kHeads, out var xk)
            || !TryMatchMask(view, maskTerm))
        {
            return false;
        }

        // Probabilities · V, transposed back and reshaped to (B, S, hidden).
        if (view.Consumers(softmax.Output[0]) is not [{ } pv] || !Is(pv, "MatMul") || pv.Input[0] != softmax.Output[0]
            || !TryMatchHeads(view, pv.Input[1], [0, 2, 1, 3], out var value, out var vBias, out var vHeads, out var xv)
            || view.Consumers(pv.Output[0]) is not [{ } back] || !Is(back, "Transpose") || !Perm(back, [0, 2, 1, 3])
            // The reshape back; the export also reads the transposed tensor's shape to build the target shape.
            || view.Consumers(back.Output[0]).Where(c => !Is(c, "Shape")).ToArray() is not [{ } reshape] || !Is(reshape, "Reshape"))
        {
            return false;
        }

        // Self-attention over one input, equal heads, equal widths (MultiHeadAttention's packed bias is [3 × hidden]).
        if (heads != kHeads || heads != vHeads || x != xk || x != xv || qBias.Length != kBias.Length || qBias.Length != vBias.Length
            || qBias.Length % heads != 0 || view.IsGraphOutput(softmax.Output[0]))
        {
            return false;
        }

        match = new AttentionMatch(query, key, value, qBias, kBias, vBias, heads, scale, reshape);
        return true;
    }

    /// <summary>
    /// <paramref name="name"/> = Transpose(perm)(Reshape(Add(MatMul(x, W), bias), [.., .., heads, size])):
    /// gives the MatMul's output (the projection before bias), the bias and the head count.
    /// </summary>
    private static bool TryMatchHeads(GraphView view, string name, long[] perm, out string projection, out float[] bias, out long heads, out string input)
    {
        projection = input = "";
        bias = [];
        heads = 0;
        if (view.Producer(name) is not { } transpose || !Is(transpose, "Transpose") || !Perm(transpose, perm)
            || view.Producer(transpose.Input[0]) is not { } reshape || !Is(reshape, "Reshape")
            || !view.TryReshapeHeads(reshape.Input[1], out heads, out var headSize)
            || view.Producer(reshape.Input[0]) is not { } add || !Is(add, "Add") || add.Input.Count != 2)
        {
            return false;
        }

        foreach (var (candidate, other) in new[] { (add.Input[0], add.Input[1]), (add.Input[1], add.Input[0]) })
        {
            if (view.Producer(candidate) is { } matMul && Is(matMul, "MatMul") && view.IsInitializer(matMul.Input[1])
                && view.TryFloatVector(other, out var b) && b.Length == heads * headSize)
            {
                projection = candidate;
                bias = b;
                input = matMul.Input[0];
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The export's extended mask: Mul(Sub(1, Cast(Unsqueeze(…(mask)))), filter), either Mul order,
    /// where mask is a graph input of 0/1 per token: the term is zero wherever the mask is one, so
    /// dropping it is exact for rows without padding.
    /// </summary>
    private static bool TryMatchMask(GraphView view, string name)
    {
        if (view.Producer(name) is not { } mul || !Is(mul, "Mul") || mul.Input.Count != 2)
        {
            return false;
        }

        var inverted = view.TryFloatScalar(mul.Input[1], out _) ? mul.Input[0] : view.TryFloatScalar(mul.Input[0], out _) ? mul.Input[1] : null;
        if (inverted is null || view.Producer(inverted) is not { } sub || !Is(sub, "Sub")
            || !view.TryFloatScalar(sub.Input[0], out var one) || one != 1f)
        {
            return false;
        }

        var current = sub.Input[1];
        while (view.Producer(current) is { } step && (Is(step, "Cast") || Is(step, "Unsqueeze")))
        {
            current = step.Input[0];
        }

        return view.IsGraphInput(current);
    }

    // ---- helpers -----------------------------------------------------------------------------

    /// <summary>Drops nodes none of whose outputs reach a graph output, and initializers nothing reads.</summary>
    private static void RemoveDeadNodes(GraphProto graph)
    {
        var needed = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var live = new HashSet<NodeProto>();
        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (node.Output.Any(needed.Contains))
            {
                live.Add(node);
                needed.UnionWith(node.Input.Where(n => n.Length > 0));
            }
        }

        var dead = graph.Node.Where(n => !live.Contains(n)).ToArray();
        foreach (var node in dead)
        {
            graph.Node.Remove(node);
        }

        foreach (var initializer in graph.Initializer.Where(t => !needed.Contains(t.Name)).ToArray())
        {
            graph.Initializer.Remove(initializer);
            if (graph.Input.FirstOrDefault(i => i.Name == initializer.Name) is { } input)
            {
                graph.Input.Remove(input);
            }
        }
    }

    private static bool Is(NodeProto node, string opType) => node.OpType == opType && node.Domain is not { Length: > 0 };

    private static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    private static bool Perm(NodeProto transpose, long[] perm) => Attribute(transpose, "perm") is { } p && p.Ints.SequenceEqual(perm);

    private static TensorProto FloatTensor(string name, float[] values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        tensor.Dims.Add(dims);
        return tensor;
    }

    /// <summary>Who produces and who reads each value, and what the constants are.</summary>
    private sealed class GraphView
    {
        private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, TensorProto> _initializers;
        private readonly HashSet<string> _inputs;
        private readonly HashSet<string> _outputs;

        public GraphView(GraphProto graph)
        {
            _initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
            _inputs = graph.Input.Select(i => i.Name).Where(n => !_initializers.ContainsKey(n)).ToHashSet(StringComparer.Ordinal);
            _outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var node in graph.Node)
            {
                foreach (var output in node.Output)
                {
                    _producers[output] = node;
                }

                foreach (var input in node.Input.Where(i => i.Length > 0))
                {
                    if (!_consumers.TryGetValue(input, out var list))
                    {
                        _consumers[input] = list = [];
                    }

                    if (!list.Contains(node))
                    {
                        list.Add(node);
                    }
                }
            }
        }

        public NodeProto? Producer(string name) => _producers.GetValueOrDefault(name);

        public IReadOnlyList<NodeProto> Consumers(string name) => _consumers.TryGetValue(name, out var list) ? list : [];

        public bool IsInitializer(string name) => _initializers.ContainsKey(name);

        public bool IsGraphInput(string name) => _inputs.Contains(name);

        public bool IsGraphOutput(string name) => _outputs.Contains(name);

        private TensorProto? Constant(string name) =>
            _initializers.GetValueOrDefault(name)
            ?? (Producer(name) is { OpType: "Constant" } c && c.Domain is not { Length: > 0 } && c.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } t ? t : null);

        public bool TryFloatVector(string name, out float[] values)
        {
            values = [];
            if (Constant(name) is not { DataType: (int)TensorProto.Types.DataType.Float } t)
            {
                return false;
            }

            values = t.HasRawData ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : [.. t.FloatData];
            return values.Length > 0;
        }

        public bool TryFloatScalar(string name, out float value)
        {
            value = 0;
            if (!TryFloatVector(name, out var values) || values.Length != 1)
            {
                return false;
            }

            value = values[0];
            return true;
        }

        private bool TryInt64s(string name, out long[] values)
        {
            values = [];
            if (Constant(name) is not { DataType: (int)TensorProto.Types.DataType.Int64, HasRawData: true } t)
            {
                return false;
            }

            values = MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray();
            return true;
        }

        /// <summary>
        /// The head count of a reshape to (B, S, heads, head size): a constant shape, or (as exported)
        /// a Concat whose last two parts are constants; also gives the head size.
        /// </summary>
        public bool TryReshapeHeads(string shape, out long heads, out long size)
        {
            heads = size = 0;
            if (TryInt64s(shape, out var dims))
            {
                if (dims.Length != 4 || dims[2] <= 0 || dims[3] <= 0)
                {
                    return false;
                }

                (heads, size) = (dims[2], dims[3]);
                return true;
            }

            if (Producer(shape) is not { } concat || !Is(concat, "Concat") || concat.Input.Count != 4
                || !TryInt64s(concat.Input[2], out var h) || h is not [> 0]
                || !TryInt64s(concat.Input[3], out var s) || s is not [> 0])
            {
                return false;
            }

            (heads, size) = (h[0], s[0]);
            return true;
        }
    }
}
