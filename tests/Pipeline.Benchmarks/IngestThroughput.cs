using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Testing;

namespace Pipeline.Benchmarks;

/// <summary>
/// Papers through ingest's gRPC API into Redis and out to RabbitMQ (publisher confirms on), timed
/// end to end: a private broker and Redis from the Debian packages, ingest as a process from its
/// Release build, a real gRPC channel. Not a BenchmarkDotNet run (it needs real infrastructure,
/// started once): <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- ingest-throughput [papers]</c>.
/// Target: 10,000 papers through SubmitPapers accepted and published at 1,000 papers/s or more.
/// </summary>
public static class IngestThroughput
{
    private const string ApiKey = "ingest-benchmark-key";

    public static async Task RunAsync(int papers)
    {
        await using var broker = await RabbitMqBroker.StartNewAsync();
        await broker.CreateVirtualHostAsync("bench");
        await using var redis = await RedisServer.StartNewAsync();
        var grpcPort = FreePort.Next();
        var httpPort = FreePort.Next(p => p == grpcPort);
        await using var ingest = ServiceProcess.ForService("Pipeline.Ingest", new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpcPort}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{httpPort}",
            ["ConnectionStrings__redis"] = redis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = broker.ConnectionString("bench"),
            ["Security__ApiKeys__0"] = ApiKey,
            ["Sources__SchedulerEnabled"] = "false",
            ["Logging__LogLevel__Default"] = "Warning",
        });
        await ingest.StartAndWaitUntilReadyAsync(new Uri($"http://127.0.0.1:{httpPort}/health/ready"), TimeSpan.FromSeconds(90));
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var client = new IngestService.IngestServiceClient(channel);
        var key = new Metadata { { "x-api-key", ApiKey } };

        // Warm up connections, JIT and the exchange.
        await client.SubmitPapersAsync(new SubmitPapersRequest { Papers = { Make("warmup", 0) } }, key);

        Console.WriteLine($"ingest throughput, {papers} papers each, {Environment.ProcessorCount} cores");
        var onePerCall = Math.Min(papers, 1_000);
        await Measure($"baseline: SubmitPapers, one paper per call ({onePerCall} papers)", onePerCall, async () =>
        {
            for (var i = 0; i < onePerCall; i++)
            {
                var r = await client.SubmitPapersAsync(new SubmitPapersRequest { Papers = { Make("single", i) } }, key);
                Check(r.Accepted, 1);
            }
        });

        await Measure($"SubmitPapers, batches of 1000 ({papers} papers)", papers, async () =>
        {
            for (var start = 0; start < papers; start += 1_000)
            {
                var request = new SubmitPapersRequest();
                request.Papers.AddRange(Enumerable.Range(start, Math.Min(1_000, papers - start)).Select(i => Make("batch", i)));
                var r = await client.SubmitPapersAsync(request, key);
                Check(r.Accepted, request.Papers.Count);
            }
        });

        await Measure($"ImportPapers, one stream ({papers} papers)", papers, async () =>
        {
            using var call = client.ImportPapers(key);
            for (var i = 0; i < papers; i++)
            {
                await call.RequestStream.WriteAsync(Make("stream", i));
            }

            await call.RequestStream.CompleteAsync();
            Check((await call).Accepted, papers);
        });

        await Measure($"SubmitPapers again, all duplicates ({papers} papers)", papers, async () =>
        {
            for (var start = 0; start < papers; start += 1_000)
            {
                var request = new SubmitPapersRequest();
                request.Papers.AddRange(Enumerable.Range(start, Math.Min(1_000, papers - start)).Select(i => Make("batch", i)));
                Check((await client.SubmitPapersAsync(request, key)).Duplicates, request.Papers.Count);
            }
        });
    }

    private static Paper Make(string run, int i) => new()
    {
        Id = $"bench:{run}-{i.ToString(CultureInfo.InvariantCulture)}",
        Version = 1,
        Title = $"A benchmark paper on efficient attention, number {i.ToString(CultureInfo.InvariantCulture)}",
        Abstract = "We measure how fast ingest validates, de-duplicates, stores and publishes papers. " +
                   "The abstract is of a typical length for arXiv, a few sentences about a method, its evaluation and its results, " +
                   "so that serialisation and hashing costs are realistic.",
        Authors = { "Ada Lovelace", "Alan Turing", "Grace Hopper" },
        Categories = { "cs.LG", "cs.CL" },
        Source = "benchmark",
    };

    private static void Check(int actual, int expected)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"expected {expected}, got {actual}");
        }
    }

    private static async Task Measure(string name, int count, Func<Task> run)
    {
        var watch = Stopwatch.StartNew();
        await run();
        watch.Stop();
        Console.WriteLine($"{name,-60} {watch.Elapsed.TotalSeconds,8:F2} s  {count / watch.Elapsed.TotalSeconds,10:F0} papers/s");
    }
}
