using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Pipeline.Rank.Storage;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Benchmarks;

/// <summary>
/// Rank under load, as clients see it: a private RabbitMQ node and Redis servers, embed and rank as
/// processes from their Release builds, rank's Redis seeded with synthetic papers and subscribers
/// (<see cref="RankSynthetic"/>), then Search (query embedded by the real embed service), Recommend
/// (over all papers, and for a digest: since 1 day and since 7 days) and Trending through a real
/// gRPC channel after a warm-up, with 1 and with 16 concurrent clients (closed loops: each client
/// sends its next call when the last answers), each run bounded in calls and in time, and Search and
/// Recommend open-loop at given rates (<see cref="RunAtRateAsync"/>). Also: rank's startup load time (from its log line), its
/// resident memory (VmRSS, VmHWM), and, in this process, instant matching and the load from Redis.
/// Rank is started once per vector precision, so fp16 is measured beside its fp32 baseline.
/// Not a BenchmarkDotNet run:
/// <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- rank-load [papers] [subscribers] [precisions]</c>;
/// <c>RANK_LOAD_BUILDS</c> runs other rank builds (a baseline) in the same run, <c>RANK_LOAD_SERVICE_ONLY=1</c>
/// skips the in-process part, and <c>rank-load profile</c> runs <see cref="RankProfile"/> instead.
/// </summary>
public static partial class RankLoad
{
    private const string ApiKey = "rank-load-benchmark-key";
    private static readonly TimeSpan RunBound = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Calls in each 16-client run (<c>RANK_LOAD_CALLS_16</c>, 3,000 by default). A kept Recommend
    /// makes 3,000 calls in under a second, where one pause moves the p99; 15,000 gives it about 5 s.
    /// </summary>
    private static readonly int Calls16 = int.TryParse(Environment.GetEnvironmentVariable("RANK_LOAD_CALLS_16"), out var n) && n > 0 ? n : 3_000;
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("RANK_LOAD_WARMUP_SECONDS"), CultureInfo.InvariantCulture, out var seconds) ? seconds : 10);

    /// <summary>
    /// Calls a second at which Search and Recommend are also measured open-loop (<see cref="RunAtRateAsync"/>):
    /// <c>RANK_LOAD_RATES="100,200,400"</c> by default, <c>RANK_LOAD_RATES=""</c> for none.
    /// </summary>
    private static readonly double[] Rates = (Environment.GetEnvironmentVariable("RANK_LOAD_RATES") ?? "100,200,400")
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(r => double.Parse(r, CultureInfo.InvariantCulture))
        .ToArray();

    /// <summary>How long each open-loop rate runs.</summary>
    private static readonly TimeSpan RateRun = TimeSpan.FromSeconds(6);

    public static async Task RunAsync(string[] args)
    {
        if (args is ["profile", ..])
        {
            RankProfile.Run(args[1..]);
            return;
        }

        var papers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var subscribers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
        var precisions = (args.Length > 2 ? args[2] : "Float16,Float32").Split(',').Select(Enum.Parse<VectorPrecision>).ToArray();
        var report = new StringBuilder();
        void Say(string line)
        {
            Console.WriteLine(line);
            report.AppendLine(line);
        }

        Say($"rank load: {papers} papers, {subscribers} subscribers, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");

        await using var broker = await RabbitMqBroker.StartNewAsync();
        await broker.CreateVirtualHostAsync("rank-load");
        await using var rankRedis = await RedisServer.StartNewAsync();
        await using var embedRedis = await RedisServer.StartNewAsync();
        var (embedGrpc, embedHttp) = (FreePort.Next(), FreePort.Next());
        await using var embed = ServiceProcess.ForService("Pipeline.Embed", new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{embedGrpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{embedHttp}",
            ["ConnectionStrings__redis"] = embedRedis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = broker.ConnectionString("rank-load"),
            ["Logging__LogLevel__Default"] = "Warning",
        });
        await embed.StartAndWaitUntilReadyAsync(new Uri($"http://127.0.0.1:{embedHttp}/health/ready"), TimeSpan.FromSeconds(120));

        // Seed rank's Redis the way rank writes it.
        var data = new RankSynthetic();
        var now = DateTimeOffset.UtcNow;
        var subscriberIds = new List<string>(subscribers);
        using (var redis = await ConnectionMultiplexer.ConnectAsync(rankRedis.ConnectionString + ",allowAdmin=true"))
        {
            var store = new RankStore(redis.GetDatabase());
            var seed = Stopwatch.StartNew();
            for (var start = 0; start < papers; start += 1_000)
            {
                await store.SavePapersAsync(Enumerable.Range(start, Math.Min(1_000, papers - start))
                    .Select(i => data.Paper(i, now)).Select(p => new StoredPaper(p.Paper, p.Vector)).ToArray());
            }

            foreach (var chunk in Enumerable.Range(0, subscribers).Chunk(500))
            {
                // Every other subscriber wants instant alerts, the rest digests.
                var profiles = chunk.Select(i => data.Subscriber(i, i % 2 == 0 ? "instant" : "daily", now)).ToArray();
                subscriberIds.AddRange(profiles.Select(p => p.SubscriberId));
                await Task.WhenAll(profiles.Select(p => store.SaveProfileAsync(p)));
            }

            // RANK_LOAD_SENT=300 gives every subscriber a history of that many papers sent (a month
            // of daily digests of 10), random papers of the index, written as notify's DigestSent
            // makes rank write them: what a restart after months of digests loads, and what
            // Recommend then leaves out.
            var sentEach = int.TryParse(Environment.GetEnvironmentVariable("RANK_LOAD_SENT"), out var sentCount) ? sentCount : 0;
            if (sentEach > 0)
            {
                var feedback = new FeedbackStore(redis.GetDatabase());
                var sentRandom = new Random(5);
                foreach (var chunk in subscriberIds.Chunk(500))
                {
                    await Task.WhenAll(chunk.Select(id => feedback.SaveSentAsync(id,
                        Enumerable.Range(0, sentEach).Select(_ => $"2611.{sentRandom.Next(papers):D5}").ToArray())));
                }

                Say($"seeded a history of {sentEach} sent papers for each of {subscriberIds.Count} subscribers");
            }

            // RANK_LOAD_VOTES=20 gives every subscriber that many votes (+1 three times in four, else
            // -1) on papers of the index, as the vote links in emails and Vote write them.
            var votesEach = int.TryParse(Environment.GetEnvironmentVariable("RANK_LOAD_VOTES"), out var voteCount) ? voteCount : 0;
            if (votesEach > 0)
            {
                var feedback = new FeedbackStore(redis.GetDatabase());
                var voteRandom = new Random(9);
                foreach (var chunk in subscriberIds.Chunk(100))
                {
                    await Task.WhenAll(chunk.SelectMany(id => Enumerable.Range(0, votesEach).Select(_ =>
                        feedback.SaveVoteAsync($"2611.{voteRandom.Next(papers):D5}", id, voteRandom.Next(4) == 0 ? -1 : 1))));
                }

                Say($"seeded {votesEach} votes from each of {subscriberIds.Count} subscribers");
            }

            Say($"seeded rank's Redis in {seed.Elapsed.TotalSeconds:F1} s; Redis used_memory {await UsedMemoryAsync(redis, rankRedis):F0} MB");
            // RANK_LOAD_SERVICE_ONLY=1 skips the in-process measurements (for repeated service runs).
            if (Environment.GetEnvironmentVariable("RANK_LOAD_SERVICE_ONLY") != "1")
            {
                await MeasureInProcessAsync(store, data, subscribers, now, Say);
            }
        }

        var embedClient = new EmbedService.EmbedServiceClient(GrpcChannel.ForAddress($"http://127.0.0.1:{embedGrpc}"));
        if (Environment.GetEnvironmentVariable("RANK_LOAD_SERVICE_ONLY") != "1")
        {
            await MeasureRealVectorFidelityAsync(embedClient, Say);
        }

        await MeasureEmbedAloneAsync(embedClient, data, Say);

        // Which rank builds to measure, each against the same Redis and embed, one after the other
        // for every precision, so a change is compared with its baseline in the same run (the
        // machine's load changes from minute to minute). RANK_LOAD_BUILDS="name=folder|KEY=value,KEY=value;...":
        // a folder holding a Pipeline.Rank build (a copy of bin/Release/net10.0), and optional extra
        // environment for rank (e.g. DOTNET_gcServer=0). Unset: this repository's Release build.
        var builds = new List<(string Name, string? Folder, Dictionary<string, string?> Environment)>();
        foreach (var spec in (Environment.GetEnvironmentVariable("RANK_LOAD_BUILDS") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, rest) = (spec.Split('=', 2)[0], spec.Split('=', 2).ElementAtOrDefault(1) ?? "");
            var folder = rest.Split('|', 2)[0];
            var settings = rest.Split('|', 2).ElementAtOrDefault(1) ?? "";
            builds.Add(($"{name} ({folder}{(settings.Length > 0 ? ", " + settings : "")})", folder.Length > 0 ? folder : null,
                settings.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => (string?)kv.ElementAtOrDefault(1))));
        }

        if (builds.Count == 0)
        {
            builds.Add(("this build", null, []));
        }

        foreach (var precision in precisions)
        {
            foreach (var (buildName, folder, extra) in builds)
            {
                await MeasureServiceAsync(precision, buildName, folder, extra, broker, rankRedis, embedGrpc, data, subscriberIds, Say);
            }
        }

        var path = Path.Combine(TestArtifacts.RunDirectory, "rank-load.txt");
        await File.WriteAllTextAsync(path, report.ToString());
        Console.WriteLine($"report: {path}");
    }

    private static async Task MeasureServiceAsync(
        VectorPrecision precision, string buildName, string? folder, Dictionary<string, string?> extra, RabbitMqBroker broker, RedisServer rankRedis, int embedGrpc,
        RankSynthetic data, List<string> subscriberIds, Action<string> Say)
    {
        var (grpc, http) = (FreePort.Next(), FreePort.Next());
        var environment = new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["ConnectionStrings__redis"] = rankRedis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = broker.ConnectionString("rank-load"),
            ["Services__embed__grpc"] = $"http://127.0.0.1:{embedGrpc}",
            ["Security__ApiKeys__0"] = ApiKey,
            ["Ranking__VectorPrecision"] = precision.ToString(),
            ["Logging__LogLevel__Default"] = "Information",
        };
        foreach (var (key, value) in extra)
        {
            environment[key] = value;
        }

        await using var rank = folder is null
            ? ServiceProcess.ForService("Pipeline.Rank", environment)
            : new ServiceProcess("Pipeline.Rank", ServiceProcess.DotnetHost, [Path.Combine(folder, "Pipeline.Rank.dll")], folder, environment);
        var started = Stopwatch.StartNew();
        await rank.StartAndWaitUntilReadyAsync(new Uri($"http://127.0.0.1:{http}/health/ready"), TimeSpan.FromSeconds(300));
        Say("");
        Say($"## rank, vectors {precision}, {buildName}");
        Say($"ready after {started.Elapsed.TotalSeconds:F1} s; {LoadLine(rank.LogPath)}");
        Say($"memory after load: {Memory(rank.ProcessId!.Value)}");
        // A build that keeps each subscriber's ranking (KeptRankings) ranks them all once the load
        // of what they were sent is done: the calls below are measured after that pass, as a rank
        // serves between batches of new papers. A build without it has nothing to wait for
        // (RANK_LOAD_KEPT_WAIT=0 never waits, to measure the calls while the pass runs).
        var dll = folder is null ? RepoPaths.ServiceDll("Pipeline.Rank") : Path.Combine(folder, "Pipeline.Rank.dll");
        if (Environment.GetEnvironmentVariable("RANK_LOAD_KEPT_WAIT") != "0"
            && File.ReadAllText(dll, System.Text.Encoding.Latin1).Contains("KeptRankingsWarmer", StringComparison.Ordinal)
            && (extra.GetValueOrDefault("Ranking__KeptRankings") ?? "") != "0"
            && (extra.GetValueOrDefault("Ranking__WarmKeptRankings") ?? "").ToLowerInvariant() != "false")
        {
            var deadline = Stopwatch.StartNew();
            Match pass;
            while (!(pass = KeptPassPattern().Match(File.ReadAllText(rank.LogPath))).Success && deadline.Elapsed < TimeSpan.FromSeconds(180))
            {
                await Task.Delay(200);
            }

            Say(pass.Success
                ? $"{pass.Value}, {started.Elapsed.TotalSeconds:F1} s after start; memory then: {Memory(rank.ProcessId!.Value)}"
                : "no pass of the kept rankings within 180 s");
        }
        await HoldAsync(rank, "after load", Say);

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}");
        var client = new RankingService.RankingServiceClient(channel);
        var random = new Random(7);
        // A subscriber's own pages need the key, as notify sends it.
        var withKey = new Metadata { { "x-api-key", ApiKey } };
        // Every Search asks a query text not asked before in this run (checked here), so no cache
        // of query embeddings, rank's or embed's, answers it: the numbers are cold queries.
        var calls = new (string Name, Func<Task> Call)[]
        {
            ("Search", () => client.SearchAsync(new SearchRequest { Query = NextQuery(data, random), Limit = 10 }).ResponseAsync),
            ("Recommend", () => client.RecommendAsync(new RecommendRequest { SubscriberId = subscriberIds[Next(random, subscriberIds.Count)], Limit = 10 }, withKey).ResponseAsync),
            // What notify asks for a digest: the papers since the last one (the synthetic papers
            // appeared over 60 days, so a day holds about 1,700 of 100,000 and a week 11,700).
            ("Recommend since 1 day", () => client.RecommendAsync(new RecommendRequest { SubscriberId = subscriberIds[Next(random, subscriberIds.Count)], Limit = 10, Since = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)) }, withKey).ResponseAsync),
            ("Recommend since 7 days", () => client.RecommendAsync(new RecommendRequest { SubscriberId = subscriberIds[Next(random, subscriberIds.Count)], Limit = 10, Since = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-7)) }, withKey).ResponseAsync),
            ("Trending", () => client.TrendingAsync(new TrendingRequest { Window = TrendingWindow.Week, Limit = 10 }, withKey).ResponseAsync),
            // What notify asks for a digest's trending section: the day's page less what the
            // subscriber was sent or voted down, computed each call (a build before subscriber_id
            // ignores the field and answers the kept page everyone sees).
            ("Trending for a subscriber", () => client.TrendingAsync(new TrendingRequest { Window = TrendingWindow.Day, Limit = 20, SubscriberId = subscriberIds[Next(random, subscriberIds.Count)] }, withKey).ResponseAsync),
        };

        // RANK_LOAD_ONLY="Recommend,Trending" measures only the calls so named (for a profile of one).
        var only = (Environment.GetEnvironmentVariable("RANK_LOAD_ONLY") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var (name, call) in calls.Where(c => only.Length == 0 || only.Contains(c.Name)))
        {
            // Warm-up: JIT, connection pools, the thread pool, the embed cache of nothing in
            // particular. By time, not by count: the runtime recompiles a hot method (tier 1) only
            // after it has been called 30 times and a 100 ms delay has passed, in the background, so
            // a 200-call warm-up of a 0.1 ms call (Trending) ended before that and the measured run
            // paid for the recompilation on one of the two cores. 10 s, not 3: after 3 s the
            // tiering thread still took 44 % of rank's CPU samples in the first seconds of the
            // one-client run of the first call after start (perf, docs/benchmarks.md).
            // RANK_LOAD_WARMUP_SECONDS=0 gives the old warm-up (200 calls from 4 clients), for comparison.
            var warm = WarmUp > TimeSpan.Zero
                ? await RunAsync(call, clients: 16, maxCalls: int.MaxValue, WarmUp)
                : await RunAsync(call, clients: 4, maxCalls: 200, RunBound);
            if (warm.Unimplemented > 0)
            {
                Say($"{name}: UNIMPLEMENTED in this build (warm-up answered {warm.Unimplemented} of {warm.Calls} calls so)");
                continue;
            }

            foreach (var clients in new[] { 1, 16 })
            {
                var result = await RunAsync(call, clients, maxCalls: clients == 1 ? 1_000 : Calls16, RunBound);
                Say($"{name,-22} {clients,2} client(s): {result}");
            }

            if (name is "Search" or "Recommend")
            {
                foreach (var rate in Rates)
                {
                    var result = await RunAtRateAsync(call, rate, inFlight: 16, RateRun, seed: (int)rate);
                    Say(string.Create(CultureInfo.InvariantCulture, $"{name,-22} {rate,5:F0}/s open loop (≤ 16 in flight): {result}"));
                }
            }
        }

        Say($"memory after the runs: {Memory(rank.ProcessId!.Value)}");
        if (HistoryLoadedPattern().Match(File.ReadAllText(rank.LogPath)) is { Success: true } history)
        {
            Say(history.Value);
        }

        // What a quiet rank holds after the bursts (rank compacts its heap once quiet for 5 s: IdleMemoryTrimmer).
        var quiet = int.TryParse(Environment.GetEnvironmentVariable("RANK_LOAD_QUIET_SECONDS"), out var q) ? q : 10;
        if (quiet > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(quiet));
            Say($"memory {quiet} s after the runs: {Memory(rank.ProcessId!.Value)}");
            foreach (Match trimmed in IdleTrimPattern().Matches(File.ReadAllText(rank.LogPath)))
            {
                Say(trimmed.Value);
            }
        }

        await HoldAsync(rank, "after the runs", Say);
        await rank.StopAsync();
    }

    /// <summary>
    /// RANK_LOAD_HOLD_SECONDS keeps rank idle that long after the load and after the runs, for a
    /// look with dotnet-counters or dotnet-gcdump at what its memory holds.
    /// </summary>
    private static async Task HoldAsync(ServiceProcess rank, string when, Action<string> Say)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("RANK_LOAD_HOLD_SECONDS"), out var hold) && hold > 0)
        {
            Say($"holding rank (pid {rank.ProcessId}) {when} for {hold} s");
            await Task.Delay(TimeSpan.FromSeconds(hold));
            Say($"memory after holding: {Memory(rank.ProcessId!.Value)}");
        }
    }

    private static int Next(Random random, int max)
    {
        lock (random)
        {
            return random.Next(max);
        }
    }

    private static readonly HashSet<string> AskedQueries = new(StringComparer.Ordinal);

    /// <summary>A query text never asked before in this process (drawn again on a repeat).</summary>
    private static string NextQuery(RankSynthetic data, Random random)
    {
        lock (random)
        {
            lock (AskedQueries)
            {
                while (true)
                {
                    var query = data.QueryText();
                    if (AskedQueries.Add(query))
                    {
                        return query;
                    }
                }
            }
        }
    }

    /// <summary>
    /// embed's Embed for one short, never-seen query text, straight from this process: the share of
    /// a Search that rank does not control (rank calls the same rpc for every new query).
    /// </summary>
    private static async Task MeasureEmbedAloneAsync(EmbedService.EmbedServiceClient embed, RankSynthetic data, Action<string> say)
    {
        var random = new Random(11);
        async Task<List<double>> Run(int calls, TextKind kind)
        {
            var times = new List<double>(calls);
            for (var i = 0; i < calls; i++)
            {
                var request = new EmbedRequest { Kind = kind };
                request.Texts.Add(NextQuery(data, random));
                var start = Stopwatch.GetTimestamp();
                await embed.EmbedAsync(request);
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            return times;
        }

        // As a document (the model papers and interests go through) and as a query (what Search asks).
        foreach (var kind in new[] { TextKind.Document, TextKind.Query })
        {
            await Run(50, kind);
            var times = await Run(300, kind);
            say($"embed alone, one new 4-word text per call as a {kind.ToString().ToLowerInvariant()}, 1 client: p50 {Percentile(times, 0.5):F2} ms, p99 {Percentile(times, 0.99):F2} ms");
        }
    }

    /// <summary>Instant matching and the load from Redis, in this process, against the seeded data.</summary>
    private static async Task MeasureInProcessAsync(RankStore store, RankSynthetic data, int subscribers, DateTimeOffset now, Action<string> say)
    {
        // The load rank does at start, without the host around it, once per precision; then what
        // each index holds on the managed heap, and how far fp16 and int8 rankings are from fp32.
        var indexes = new Dictionary<VectorPrecision, PaperIndex>();
        foreach (var precision in new[] { VectorPrecision.Float32, VectorPrecision.Float16, VectorPrecision.Int8 })
        {
            var heapBefore = Heap();
            var index = new PaperIndex(precision);
            index.EnsureCapacity((int)await store.CountPapersAsync());
            var watch = Stopwatch.StartNew();
            await foreach (var batch in store.LoadPaperBatchesAsync())
            {
                foreach (var stored in batch)
                {
                    index.Upsert(stored.Paper, stored.Vector);
                }
            }

            indexes[precision] = index;
            say($"in process, {precision}: {index.Count} papers read from Redis into the vector index in {watch.Elapsed.TotalSeconds:F2} s; "
                + $"vectors {index.VectorBytes / 1e6:F0} MB; managed heap of the index (papers without abstracts, vectors, ids) {(Heap() - heapBefore) / 1e6:F0} MB");
        }

        var lexicalBefore = Heap();
        var relevance = new RelevanceRanker(indexes[VectorPrecision.Float16]);
        var lexical = Stopwatch.StartNew();
        await foreach (var batch in store.LoadPaperBatchesAsync())
        {
            Parallel.ForEach(batch, stored => stored.AddTo(relevance));
        }

        say($"in process: the lexical index (RelevanceRanker.Add, 2 threads) read and indexed {indexes[VectorPrecision.Float16].Count} papers in {lexical.Elapsed.TotalSeconds:F2} s; "
            + $"its managed heap {(Heap() - lexicalBefore) / 1e6:F0} MB");
        GC.KeepAlive(relevance);

        var queries = Enumerable.Range(0, 200).Select(_ => data.QueryVector()).ToArray();
        foreach (var precision in new[] { VectorPrecision.Float16, VectorPrecision.Int8 })
        {
            var overlap = 0.0;
            foreach (var query in queries)
            {
                var want = indexes[VectorPrecision.Float32].Top([query], 10).Select(h => h.Paper.Paper.Id).ToHashSet();
                overlap += indexes[precision].Top([query], 10).Count(h => want.Contains(h.Paper.Paper.Id)) / 10.0;
            }

            say($"synthetic clustered vectors, {queries.Length} queries over {indexes[precision].Count} papers: {precision} overlap@10 with fp32 {overlap / queries.Length:F3}");
        }

        indexes.Clear();

        var profiles = new ProfileIndex();
        var loadProfiles = Stopwatch.StartNew();
        var loaded = new List<SubscriberProfile>();
        await foreach (var profile in store.LoadProfilesAsync())
        {
            loaded.Add(profile);
        }

        profiles.UpsertMany(loaded);
        say($"in process: {profiles.Count} profiles read from Redis in {loadProfiles.Elapsed.TotalSeconds:F2} s");

        // One paper against every profile made instant: the requirement is 10,000 instant profiles.
        var allInstant = new ProfileIndex();
        allInstant.UpsertMany(loaded.Select(p => p with { Cadence = "instant" }));
        // The lexical index of the 100,000 papers above tells the matcher which words are common.
        var matcher = new InstantMatcher(allInstant, relevance, null);
        var synthetic = Enumerable.Range(0, 500).Select(i => data.Paper(i, now)).ToArray();
        var papers = synthetic.Select(p => p.Vector).ToArray();
        var timings = new List<double>();
        var byMeaning = new List<double>();
        var matches = 0;
        for (var round = 0; round < 3; round++)
        {
            timings.Clear();
            byMeaning.Clear();
            foreach (var (paper, vector) in synthetic)
            {
                // What rank runs per paper: by meaning and by the words of each interest.
                var start = Stopwatch.GetTimestamp();
                matches += matcher.Match(vector, paper.Paper).Count;
                timings.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                start = Stopwatch.GetTimestamp();
                matches += matcher.Match(vector).Count;
                byMeaning.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        var simple = new List<double>();
        foreach (var paper in papers.Take(100))
        {
            var start = Stopwatch.GetTimestamp();
            foreach (var profile in allInstant.All)
            {
                _ = PaperIndex.MaxSimilarity(profile.Vectors, paper);
            }

            simple.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        say($"instant matching, one paper against {allInstant.Count} instant profiles ({loaded.Sum(p => p.Vectors.Count)} interest vectors): "
            + $"p50 {Percentile(timings, 0.5):F2} ms, p99 {Percentile(timings, 0.99):F2} ms (by meaning only: p50 {Percentile(byMeaning, 0.5):F2}, p99 {Percentile(byMeaning, 0.99):F2} ms); simple fp32 loop baseline p50 {Percentile(simple, 0.5):F2} ms, p99 {Percentile(simple, 0.99):F2} ms");
        _ = subscribers;
    }

    /// <summary>overlap@5 of fp16 and int8 against fp32 on real MiniLM vectors of the shared seed papers (leave-one-out).</summary>
    private static async Task MeasureRealVectorFidelityAsync(EmbedService.EmbedServiceClient embed, Action<string> say)
    {
        var request = new EmbedRequest();
        request.Texts.AddRange(SeedPapers.Texts);
        var vectors = (await embed.EmbedAsync(request)).Embeddings.Select(e => e.Values.ToArray()).ToArray();
        foreach (var precision in new[] { VectorPrecision.Float16, VectorPrecision.Int8 })
        {
            var exact = new PaperIndex(VectorPrecision.Float32);
            var compact = new PaperIndex(precision);
            for (var i = 0; i < vectors.Length; i++)
            {
                var paper = new IndexedPaper(new Contracts.Messages.PaperSummary($"s{i}", 1, "t", "", [], [], null, "", "seed", 0), DateTimeOffset.UnixEpoch);
                exact.Upsert(paper, vectors[i]);
                compact.Upsert(paper, vectors[i]);
            }

            var (overlap, maxError) = (0.0, 0.0);
            for (var q = 0; q < vectors.Length; q++)
            {
                var self = $"s{q}";
                var want = exact.Top([vectors[q]], 6, p => p.Paper.Id != self);
                var got = compact.Top([vectors[q]], 6, p => p.Paper.Id != self);
                overlap += got.Take(5).Count(g => want.Take(5).Any(w => w.Paper.Paper.Id == g.Paper.Paper.Id)) / 5.0;
                maxError = Math.Max(maxError, want.Zip(got).Max(z => Math.Abs(z.First.Relevance - z.Second.Relevance)));
            }

            say($"real MiniLM vectors ({vectors.Length} seed papers, leave-one-out): {precision} overlap@5 with fp32 {overlap / vectors.Length:F3}, largest score difference at equal rank {maxError:F4}");
        }
    }

    private static async Task<RunResult> RunAsync(Func<Task> call, int clients, int maxCalls, TimeSpan bound)
    {
        var tally = new Tally(Math.Min(maxCalls, 100_000));
        var started = 0;
        var deadline = Stopwatch.StartNew();
        async Task Client()
        {
            while (deadline.Elapsed < bound && Interlocked.Increment(ref started) <= maxCalls)
            {
                await tally.TimeAsync(call, Stopwatch.GetTimestamp());
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(Client)));
        return tally.Result(deadline.Elapsed);
    }

    /// <summary>The latencies and failures of one run's calls, added to by several clients at once.</summary>
    private sealed class Tally(int capacity)
    {
        private readonly List<double> _latencies = new(capacity);
        private int _errors;
        private int _unimplemented;
        private string _lastError = "";

        /// <summary>Makes the call and keeps its latency from <paramref name="from"/> (a <see cref="Stopwatch"/> timestamp), or how it failed.</summary>
        public async Task TimeAsync(Func<Task> call, long from)
        {
            try
            {
                await call();
                var ms = Stopwatch.GetElapsedTime(from).TotalMilliseconds;
                lock (_latencies)
                {
                    _latencies.Add(ms);
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
            {
                Interlocked.Increment(ref _unimplemented);
            }
            catch (RpcException e)
            {
                Interlocked.Increment(ref _errors);
                _lastError = e.Status.Detail;
            }
        }

        public RunResult Result(TimeSpan elapsed) =>
            new(_latencies.Count + _errors + _unimplemented, _latencies, _errors, _unimplemented, elapsed, _lastError);
    }

    /// <summary>
    /// Open loop: calls arrive at <paramref name="perSecond"/> on average (Poisson: exponential gaps
    /// from a seeded generator), whether or not earlier ones have answered, as requests from many
    /// users do; at most <paramref name="inFlight"/> are sent at once (16 clients' connections) and
    /// the rest wait their turn. Each latency runs from the moment the call was released (when due,
    /// or by the timer's grain up to ~1 ms later), not the moment a connection was free to send it,
    /// so time spent waiting behind slow calls counts (no coordinated omission). A
    /// closed loop (<see cref="RunAsync(Func{Task}, int, int, TimeSpan)"/>) keeps every client busy and
    /// so measures the service saturated; this measures it at a given load.
    /// </summary>
    private static async Task<RunResult> RunAtRateAsync(Func<Task> call, double perSecond, int inFlight, TimeSpan duration, int seed)
    {
        var random = new Random(seed);
        var tally = new Tally((int)(perSecond * duration.TotalSeconds * 1.2));
        using var slots = new SemaphoreSlim(inFlight, inFlight);
        var calls = new List<Task>();
        var clock = Stopwatch.StartNew();
        var due = 0.0;
        while (due < duration.TotalSeconds)
        {
            // Waits of a millisecond or more sleep (no spinning: the client shares the two cores
            // with rank); a call is released when due, or up to the timer's grain (~1 ms) late.
            var wait = due - clock.Elapsed.TotalSeconds;
            if (wait >= 0.001)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait));
            }

            var released = Stopwatch.GetTimestamp();
            calls.Add(Task.Run(async () =>
            {
                await slots.WaitAsync();
                try
                {
                    await tally.TimeAsync(call, released);
                }
                finally
                {
                    slots.Release();
                }
            }));
            due += -Math.Log(1 - random.NextDouble()) / perSecond;
        }

        await Task.WhenAll(calls);
        return tally.Result(clock.Elapsed);
    }

    private sealed record RunResult(int Calls, List<double> Latencies, int Errors, int Unimplemented, TimeSpan Elapsed, string LastError)
    {
        public override string ToString() => Latencies.Count == 0
            ? $"{Calls} calls, {Errors} errors ({LastError})"
            : string.Create(CultureInfo.InvariantCulture,
                $"{Latencies.Count} calls in {Elapsed.TotalSeconds:F1} s ({Latencies.Count / Elapsed.TotalSeconds:F0}/s), p50 {Percentile(Latencies, 0.5):F2} ms, p99 {Percentile(Latencies, 0.99):F2} ms, max {Latencies.Max():F1} ms, errors {Errors}{(Errors > 0 ? $" ({LastError})" : "")}");
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static long Heap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static string Memory(int pid)
    {
        var status = File.ReadAllLines($"/proc/{pid}/status");
        string Field(string name) => status.First(l => l.StartsWith(name + ":", StringComparison.Ordinal)).Split(':')[1].Trim();
        // RssFile is mapped code (the runtime's and the assemblies' pages, shared and clean: what the
        // first calls of each path touch); RssAnon is the heap and everything else the process wrote.
        return $"VmRSS {Field("VmRSS")}, VmHWM {Field("VmHWM")} (RssAnon {Field("RssAnon")}, RssFile {Field("RssFile")})";
    }

    private static string LoadLine(string logPath)
    {
        var log = File.ReadAllText(logPath);
        var match = LoadedPattern().Match(log);
        var feedback = FeedbackLoadedPattern().Match(log);
        return (match.Success ? "startup load: " + match.Value : "no load line in the log") + (feedback.Success ? "; " + feedback.Value : "");
    }

    private static async Task<double> UsedMemoryAsync(ConnectionMultiplexer redis, RedisServer server)
    {
        var info = await redis.GetServer(server.ConnectionString).InfoAsync("memory");
        var used = info.SelectMany(g => g).First(kv => kv.Key == "used_memory").Value;
        return double.Parse(used, CultureInfo.InvariantCulture) / 1e6;
    }

    [GeneratedRegex(@"Loaded \d+ papers and \d+ profiles from Redis in \d+ ms[^\n]*")]
    private static partial Regex LoadedPattern();

    [GeneratedRegex(@"Loaded feedback from Redis in \d+ ms[^\n]*")]
    private static partial Regex FeedbackLoadedPattern();

    [GeneratedRegex(@"Kept the rankings of \d+ subscribers[^\n]*")]
    private static partial Regex KeptPassPattern();

    [GeneratedRegex(@"Loaded what \d+ subscribers were sent[^\n]*")]
    private static partial Regex HistoryLoadedPattern();

    [GeneratedRegex(@"Quiet for [\d.]+ s after a burst[^\n]*")]
    private static partial Regex IdleTrimPattern();
}
