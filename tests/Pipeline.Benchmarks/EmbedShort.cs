using System.Diagnostics;
using System.Globalization;
using Pipeline.Embed.Embedding;

namespace Pipeline.Benchmarks;

/// <summary>
/// What one short query costs the model (a Search's query embedding), in process, one text per run,
/// on one thread: p50 / p99 wall time and CPU time per text, for each fp32 layout.
/// <c>dotnet Pipeline.Benchmarks.dll embed-short [texts]</c>.
/// </summary>
public static class EmbedShort
{
    public static void Run(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 300;
        var data = new RankSynthetic(seed: 7);
        var texts = Enumerable.Range(0, count).Select(_ => data.QueryText()).ToArray();
        foreach (var (name, fuse, threads, precision) in new[]
        {
            ("fp32 fused, 1 thread", true, 1, EmbeddingPrecision.Fp32),
            ("fp32 exported, 1 thread", false, 1, EmbeddingPrecision.Fp32),
            ("fp32 fused, 2 threads", true, 2, EmbeddingPrecision.Fp32),
            ("int8, 1 thread", false, 1, EmbeddingPrecision.Int8),
        })
        {
            using var model = new MiniLmEmbedder(new EmbeddingOptions { FuseAttention = fuse, IntraOpThreads = threads, Precision = precision });
            for (var i = 0; i < 20; i++)
            {
                model.Embed("warm up " + i);
            }

            var times = new double[count];
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; i < count; i++)
            {
                var started = Stopwatch.GetTimestamp();
                model.Embed(texts[i]);
                times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            var cpuPerText = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / count;
            Array.Sort(times);
            Console.WriteLine($"{name,-24} p50 {times[count / 2]:F2} ms  p99 {times[(int)(count * 0.99)]:F2} ms  CPU {cpuPerText:F2} ms per text");
            // Queries arriving together: one Embed call of 16 (runs of one length, up to MaxBatchSize).
            foreach (var batchSize in new[] { 4, 16 })
            {
                using var batched = new MiniLmEmbedder(new EmbeddingOptions { FuseAttention = fuse, IntraOpThreads = threads, Precision = precision, MaxBatchSize = batchSize });
                batched.Embed(texts.Take(16).ToArray());
                var before = Process.GetCurrentProcess().TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                for (var i = 0; i + 16 <= count; i += 16)
                {
                    batched.Embed(texts.Skip(i).Take(16).ToArray());
                }

                var done = count / 16 * 16;
                Console.WriteLine($"   16 at once, runs of up to {batchSize}: {watch.Elapsed.TotalMilliseconds / done:F2} ms and {(Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / done:F2} ms CPU per text");
            }

            foreach (var words in new[] { 1, 16, 64 })
            {
                var text = string.Join(' ', Enumerable.Repeat("diffusion", words));
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < 50; i++)
                {
                    model.Embed(text);
                }

                Console.WriteLine($"   {words} words x50: {sw.Elapsed.TotalMilliseconds / 50:F2} ms per run");
            }
        }
    }
}
