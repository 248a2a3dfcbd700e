using System.Runtime.InteropServices;
using Google.Protobuf;
using Pipeline.Embed.Embedding.Onnx;

namespace Pipeline.Embed.Embedding;

/// <summary>
/// Dynamic int8 quantisation of an ONNX model, done in C# because ONNX Runtime's quantisation tool
/// is Python only: every <c>MatMul</c> whose weight is a 2-D float initializer becomes ONNX
/// Runtime's <c>com.microsoft.DynamicQuantizeMatMul</c>, with the weight stored as int8 (symmetric,
/// one scale per output column) and the activations quantised to uint8 on each run. On x86 that op
/// runs MLAS's u8×s8 integer GEMM, which uses VNNI (<c>vpdpbusd</c>) where the CPU has it.
/// </summary>
/// <remarks>
/// This is what <c>onnxruntime.quantization.quantize_dynamic</c> does to MatMuls, with two changes
/// that cost no speed: per-column rather than per-tensor weight scales (better fidelity), and the
/// bias <c>Add</c> after each projection folded into the op's bias input (one pass over the output
/// fewer). Attention's activation-by-activation MatMuls, layer norms, GELU and softmax stay fp32,
/// as with the Python tool.
/// </remarks>
public static class Int8Quantizer
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>The quantised model's bytes, ready for an InferenceSession.</summary>
    public static byte[] Quantize(byte[] fp32Model)
    {
        var model = ModelProto.Parser.ParseFrom(fp32Model);
        var graph = model.Graph ?? throw new InvalidOperationException("The model has no graph.");

        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var readers = graph.Node
            .SelectMany(node => node.Input.Where(i => i.Length > 0).Select(input => (input, node)))
            .ToLookup(x => x.input, x => x.node, StringComparer.Ordinal);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);

        var foldedAdds = new HashSet<NodeProto>();
        var replacedWeights = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || node.Domain is { Length: > 0 } || node.Input.Count != 2
                || !initializers.TryGetValue(node.Input[1], out var weight) || !TryReadFloatMatrix(weight, out var rows, out var columns, out var values))
            {
                continue;
            }

            var activations = node.Input[0];
            var weightName = weight.Name + "_int8";
            var scaleName = weight.Name + "_scale";
            if (replacedWeights.Add(weight.Name))
            {
                var (int8Weight, scales) = QuantizePerColumn(values, rows, columns);
                graph.Initializer.Add(Tensor(weightName, TensorProto.Types.DataType.Int8, MemoryMarshal.AsBytes(int8Weight.AsSpan()), rows, columns));
                graph.Initializer.Add(Tensor(scaleName, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(scales.AsSpan()), columns));
            }

            // Fold "MatMul → Add(bias)" when that Add is the MatMul's only reader and the bias is a
            // float vector as wide as the output: the fused op adds it while writing its output.
            var bias = "";
            var output = node.Output[0];
            if (!graphOutputs.Contains(output)
                && readers[output].ToArray() is [{ OpType: "Add" } add] && add.Domain is not { Length: > 0 } && add.Input.Count == 2
                && initializers.TryGetValue(add.Input[add.Input[0] == output ? 1 : 0], out var biasTensor)
                && biasTensor.DataType == (int)TensorProto.Types.DataType.Float && biasTensor.Dims.Count == 1 && biasTensor.Dims[0] == columns)
            {
                bias = biasTensor.Name;
                output = add.Output[0];
                foldedAdds.Add(add);
            }

            node.OpType = "DynamicQuantizeMatMul";
            node.Domain = MicrosoftDomain;
            node.Input.Clear();
            // A, B, b_scale, b_zero_point (none: the weights are symmetric), bias.
            node.Input.Add([activations, weightName, scaleName, "", bias]);
            node.Output[0] = output;
        }

        if (replacedWeights.Count == 0)
        {
            throw new InvalidOperationException("The model has no MatMul with a float weight to quantise.");
        }

        foreach (var add in foldedAdds)
        {
            graph.Node.Remove(add);
        }

        // Drop the fp32 weights nothing reads any more (a quarter of the size is left).
        var stillRead = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        foreach (var name in replacedWeights.Where(w => !stillRead.Contains(w)))
        {
            graph.Initializer.Remove(initializers[name]);
            // Models from before IR version 4 also list initializers as graph inputs.
            if (graph.Input.FirstOrDefault(i => i.Name == name) is { } input)
            {
                graph.Input.Remove(input);
            }
        }

        if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }

        return model.ToByteArray();
    }

    /// <summary>
    /// Symmetric int8 per output column: scale = max |w| / 127, so zero stays exactly zero and the
    /// integer GEMM needs no weight zero point.
    /// </summary>
    public static (sbyte[] Weights, float[] Scales) QuantizePerColumn(ReadOnlySpan<float> weights, int rows, int columns)
    {
        var scales = new float[columns];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                scales[c] = Math.Max(scales[c], Math.Abs(weights[r * columns + c]));
            }
        }

        for (var c = 0; c < columns; c++)
        {
            scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        }

        var quantised = new sbyte[weights.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                quantised[r * columns + c] = (sbyte)Math.Clamp(MathF.Round(weights[r * columns + c] / scales[c], MidpointRounding.ToEven), -127, 127);
            }
        }

        return (quantised, scales);
    }

    private static bool TryReadFloatMatrix(TensorProto tensor, out int rows, out int columns, out float[] values)
    {
        rows = columns = 0;
        values = [];
        if (tensor.DataType != (int)TensorProto.Types.DataType.Float || tensor.Dims.Count != 2)
        {
            return false;
        }

        rows = checked((int)tensor.Dims[0]);
        columns = checked((int)tensor.Dims[1]);
        if (tensor.HasRawData && tensor.RawData.Length == rows * columns * sizeof(float))
        {
            // ONNX stores raw_data little-endian, as every platform ONNX Runtime runs on is.
            values = MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
            return true;
        }

        if (tensor.FloatData.Count == rows * columns)
        {
            values = [.. tensor.FloatData];
            return true;
        }

        // Weights in an external file or another encoding: leave this MatMul in fp32.
        return false;
    }

    private static TensorProto Tensor(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> data, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(data) };
        tensor.Dims.Add(dims);
        return tensor;
    }
}
