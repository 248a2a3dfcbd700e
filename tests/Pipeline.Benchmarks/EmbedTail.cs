using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using Pipeline.Embed.Embedding;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Benchmarks;

/// <summary>
/// Where the tail of one new query's Embed call comes from: the embed service under a private
/// RabbitMQ and Redis, one client, one never-seen short query per call, against what the call is
/// made of, each measured alone from the same client in the same run: a gRPC call that does no work
/// (GetModel), and a Redis GET and SET of a vector (the cache's two round trips).
/// <c>dotnet Pipeline.Benchmarks.dll embed-tail [calls] [rounds]</c>; each round measures every
/// part once, in turn, so a noisy minute lands on all of them.
/// </summary>
public static class EmbedTail
{
    public static async Task RunAsync(string[] args)
    {
        var calls = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        Console.WriteLine($"embed tail: {calls} calls per part, {rounds} rounds, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");

        await using var broker = await RabbitMqBroker.StartNewAsync();
        await broker.CreateVirtualHostAsync("embed-tail");
        await using var embedRedis = await RedisServer.StartNewAsync();
        var (embedGrpc, embedHttp) = (FreePort.Next(), FreePort.Next());
        var environment = new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{embedGrpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{embedHttp}",
            ["ConnectionStrings__redis"] = embedRedis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = broker.ConnectionString("embed-tail"),
            ["Logging__LogLevel__Default"] = "Warning",
        };

        // EMBED_TAIL_ENV="A=1;B=2" adds variables to the service's environment (runtime knobs to try).
        foreach (var pair in (Environment.GetEnvironmentVariable("EMBED_TAIL_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var nameValue = pair.Split('=', 2);
            environment[nameValue[0]] = nameValue[1];
        }

        await using var embed = ServiceProcess.ForService("Pipeline.Embed", environment);
        await embed.StartAndWaitUntilReadyAsync(new Uri($"http://127.0.0.1:{embedHttp}/health/ready"), TimeSpan.FromSeconds(120));

        var client = new EmbedService.EmbedServiceClient(GrpcChannel.ForAddress($"http://127.0.0.1:{embedGrpc}"));
        using var redis = await ConnectionMultiplexer.ConnectAsync(embedRedis.ConnectionString);
        var database = redis.GetDatabase();
        var data = new RankSynthetic(seed: 5);
        var vectorBytes = new byte[384 * 4];
        var serial = 0;

        async Task<double[]> Time(Func<Task> call, int count)
        {
            var times = new double[count];
            for (var i = 0; i < count; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await call();
                times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            return times;
        }

        // The same model and batcher in this process: the call without gRPC, Redis or the host.
        using var model = new MiniLmEmbedder(new EmbeddingOptions());
        await using var batcher = new EmbeddingBatcher(model, new EmbeddingOptions());
        // The machine's own noise: the same arithmetic every call, about 3 ms of one core, no memory.
        var spin = Calibrate(TimeSpan.FromMilliseconds(3));
        var parts = new (string Name, Func<Task> Call)[]
        {
            ("arithmetic only", () =>
            {
                Spin(spin);
                return Task.CompletedTask;
            }),
            ("in process, model", () =>
            {
                model.Embed($"{data.QueryText()} {serial++}");
                return Task.CompletedTask;
            }),
            ("in process, batcher", () => batcher.EmbedAsync([$"{data.QueryText()} {serial++}"])),
            ("Embed, one new query", async () =>
            {
                var request = new EmbedRequest();
                request.Texts.Add($"{data.QueryText()} {serial++}");
                await client.EmbedAsync(request);
            }),
            ("GetModel (no work)", async () => await client.GetModelAsync(new GetModelRequest())),
            ("Redis GET + SET", async () =>
            {
                var key = $"tail:{serial++}";
                await database.StringGetAsync(key);
                await database.StringSetAsync(key, vectorBytes, TimeSpan.FromMinutes(5));
            }),
        };

        foreach (var (_, call) in parts)
        {
            await Time(call, 200);
        }

        for (var round = 1; round <= rounds; round++)
        {
            foreach (var (name, call) in parts)
            {
                var times = await Time(call, calls);
                var slow = times.Select((t, i) => (t, i)).Where(x => x.t > 3 * Median(times)).Select(x => x.i).ToArray();
                var sorted = times.Order().ToArray();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round} {name,-22} p50 {At(sorted, 0.5):F2}  p90 {At(sorted, 0.9):F2}  p99 {At(sorted, 0.99):F2}  max {sorted[^1]:F2} ms; over 3x p50: {slow.Length} calls{(slow.Length > 0 ? $", first at {string.Join(',', slow.Take(12))}" : "")}"));
            }
        }
    }

    private static long Calibrate(TimeSpan target)
    {
        var iterations = 100_000L;
        while (true)
        {
            var started = Stopwatch.GetTimestamp();
            Spin(iterations);
            var took = Stopwatch.GetElapsedTime(started);
            if (took >= target / 4)
            {
                return (long)(iterations * (target / took));
            }

            iterations *= 2;
        }
    }

    private static double _sink;

    private static void Spin(long iterations)
    {
        var x = 1.0;
        for (var i = 0L; i < iterations; i++)
        {
            x = x * 1.0000001 + 1e-9;
        }

        _sink = x;
    }

    private static double Median(double[] times) => At(times.Order().ToArray(), 0.5);

    private static double At(double[] sorted, double quantile) => sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * quantile))];
}
