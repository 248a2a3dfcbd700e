using System.Diagnostics;
using System.Globalization;
using MassTransit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Benchmarks;

/// <summary>
/// notify's two speed targets, on real infrastructure started here (not BenchmarkDotNet):
/// <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- notify-delivery [subscribers]</c>.
/// 1. Digests for 10,000 subscribers composed (templates, ledger claims in Redis) and handed to a
///    local SMTP server (the in-process SmtpSink) through <see cref="DigestSender"/>, the path the
///    scheduler takes; rank is replaced by canned papers (<see cref="CannedPapers"/>). Baseline in
///    the same run: one SMTP connection per email. Target ≥ 200 emails/s.
/// 2. Instant alerts: PaperMatched published on a real RabbitMQ broker to the notify process, to
///    the SMTP server's 250 reply. Target: median ≤ 100 ms.
/// </summary>
public static class NotifyDelivery
{
    public static async Task RunAsync(string[] args)
    {
        if (args is ["render", ..])
        {
            var papers = new CannedPapers();
            var digest = DigestComposer.Compose("s", new DigestPeriod("p", DateTimeOffset.UtcNow, TimeSpan.FromDays(1)), "daily", ["a"], 10,
                await papers.RecommendAsync(null!, default, 10, [], default), await papers.TrendingAsync(null, false, 3, default), new HashSet<string>());
            var from = new MimeKit.MailboxAddress("x", "x@example.org");
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 2000; i++)
            {
                using var stream = new MemoryStream();
                Pipeline.Notify.Templates.EmailTemplates.Digest(from, "a@example.org", digest, new Uri("http://x/u?token=a"), new Uri("http://x/p?token=b"), "m@x").WriteTo(stream);
            }

            Console.WriteLine($"render+serialise: {2000 / watch.Elapsed.TotalSeconds:F0}/s");
            await using var sink = await SmtpSink.StartNewAsync();
            var message = Pipeline.Notify.Templates.EmailTemplates.Digest(from, "a@example.org", digest, new Uri("http://x/u?token=a"), new Uri("http://x/p?token=b"), "m@x");
            foreach (var connections in new[] { 8, 16, 32 })
            {
                var options = Options.Create(new SmtpOptions { Host = sink.Host, Port = sink.Port, MaxConnections = connections });
                var pool = new SmtpConnectionPool(options, TimeProvider.System);
                watch.Restart();
                await Parallel.ForEachAsync(Enumerable.Range(0, 2000), new ParallelOptions { MaxDegreeOfParallelism = connections }, async (_, ct) => await pool.SendAsync(message, ct));
                Console.WriteLine($"smtp only, {connections} connections: {2000 / watch.Elapsed.TotalSeconds:F0}/s");
            }
            return;
        }

        var subscribers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        Console.WriteLine($"notify delivery, {Environment.ProcessorCount} cores");
        // NOTIFY_BENCH_FSYNC="everysec,always,..." runs the digests once per Redis AOF setting, in
        // turn (none: no AOF, the default); notify's Redis runs with "always" in compose.
        var fsyncs = (Environment.GetEnvironmentVariable("NOTIFY_BENCH_FSYNC") ?? "none").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var fsync in fsyncs)
        {
            Console.WriteLine($"notify's Redis: {(fsync == "none" ? "no AOF" : $"AOF, appendfsync {fsync}")}");
            await DigestThroughputAsync(subscribers, fsync);
        }

        await AlertLatencyAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200);
    }

    private static async Task DigestThroughputAsync(int subscribers, string fsync = "none")
    {
        await using var redisServer = await RedisServer.StartNewAsync(fsync == "none" ? null : new RedisServerOptions { AppendOnly = true, AppendFsync = fsync });
        await using var smtp = await SmtpSink.StartNewAsync();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);
        var db = redis.GetDatabase();
        var bus = Bus.Factory.CreateUsingInMemory(_ => { });
        await bus.StartAsync();
        try
        {
            var store = new SubscriberStore(db);
            var now = DateTimeOffset.UtcNow;
            var baselineCount = Math.Max(100, subscribers / 5);
            var ids = new List<Subscriber>(subscribers + baselineCount);
            for (var i = 0; i < subscribers + baselineCount; i++)
            {
                var s = new Subscriber($"bench{i:D6}", $"reader{i}@example.org", ["diffusion models", "protein folding"], "daily", "Europe/Berlin", 8, 10, 0.5,
                    SubscriptionStatus.Active, now, now, now);
                ids.Add(s);
            }

            await Task.WhenAll(ids.Select(store.SaveAsync));

            // Baseline first: a new SMTP connection for every email (16 at a time), on other subscribers.
            await MeasureAsync($"baseline: one SMTP connection per email, 16 at a time ({baselineCount} digests)", Sender(db, smtp, maxConnections: 0, bus),
                ids.Skip(subscribers).ToArray(), "2026-11-26", smtp, concurrency: 16);
            await MeasureAsync($"pooled: 16 reused SMTP connections ({subscribers} digests)", Sender(db, smtp, maxConnections: 16, bus), ids.Take(subscribers).ToArray(),
                "2026-11-26", smtp, concurrency: 32);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    private static async Task MeasureAsync(string name, DigestSender sender, Subscriber[] subscribers, string periodId, SmtpSink smtp, int concurrency)
    {
        var before = smtp.Received.Count;
        var period = new DigestPeriod(periodId, DateTimeOffset.UtcNow.AddHours(-1), TimeSpan.FromDays(1));
        var clock = Stopwatch.StartNew();
        var sent = 0;
        await Parallel.ForEachAsync(subscribers, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (s, ct) =>
        {
            if ((await sender.SendAsync(s, period, ct)).Kind == DigestOutcomeKind.Sent)
            {
                Interlocked.Increment(ref sent);
            }
        });
        clock.Stop();
        var received = smtp.Received.Count - before;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {sent} sent, {received} received by the SMTP server in {clock.Elapsed.TotalSeconds:F1} s = {received / clock.Elapsed.TotalSeconds:F0} emails/s"));
    }

    private static DigestSender Sender(IDatabase db, SmtpSink smtp, int maxConnections, IBus bus)
    {
        var smtpOptions = Options.Create(new SmtpOptions { Host = smtp.Host, Port = smtp.Port, MaxConnections = maxConnections });
        var notifyOptions = Options.Create(new NotifyOptions());
        var identity = new ServiceIdentity("notify-bench");
        var clock = TimeProvider.System;
        var mail = new MailSender(smtpOptions, new SmtpConnectionPool(smtpOptions, clock), identity);
        var schedule = new DigestSchedule(db);
        var subscriptions = new Subscriptions(new SubscriberStore(db), new SubscriptionTokens("benchmark signing key of 32 chars!!"u8.ToArray(), clock), mail, bus,
            schedule, new SubscribeRateLimits(notifyOptions, clock), notifyOptions, clock);
        return new DigestSender(new SubscriberStore(db), new DeliveryLedger(db), new CannedPapers(), new PaperTraceStore(db), mail, subscriptions, bus, new PublishDeadline(PublishDeadline.Default), identity, clock,
            NullLogger<DigestSender>.Instance);
    }

    private static async Task AlertLatencyAsync(int alerts)
    {
        await using var broker = await RabbitMqBroker.StartNewAsync();
        await broker.CreateVirtualHostAsync("bench");
        await using var redisServer = await RedisServer.StartNewAsync();
        await using var smtp = await SmtpSink.StartNewAsync();
        var grpcPort = FreePort.Next();
        var httpPort = FreePort.Next(p => p == grpcPort);
        await using var notify = ServiceProcess.ForService("Pipeline.Notify", new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpcPort}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{httpPort}",
            ["ConnectionStrings__redis"] = redisServer.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = broker.ConnectionString("bench"),
            ["Smtp__Host"] = smtp.Host,
            ["Smtp__Port"] = smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
        });
        await notify.StartAndWaitUntilReadyAsync(new Uri($"http://127.0.0.1:{httpPort}/health/ready"), TimeSpan.FromSeconds(90));

        await using var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);
        var now = DateTimeOffset.UtcNow;
        await new SubscriberStore(redis.GetDatabase()).SaveAsync(new Subscriber("alertbench", "alerts@example.org", ["diffusion models"], "instant", "UTC", 8, 10, 0.5,
            SubscriptionStatus.Active, now, now, now));

        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(broker.ConnectionString("bench").Replace("amqp://guest:guest@", "rabbitmq://")), h =>
        {
            h.Username("guest");
            h.Password("guest");
        }));
        await bus.StartAsync();
        try
        {
            // Warm-up: JIT, connections, queue.
            await PublishAndWaitAsync(bus, smtp, "warmup-0");
            await PublishAndWaitAsync(bus, smtp, "warmup-1");
            var latencies = new List<double>(alerts);
            for (var i = 0; i < alerts; i++)
            {
                latencies.Add(await PublishAndWaitAsync(bus, smtp, $"2611.{i:D5}"));
            }

            latencies.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"instant alert, PaperMatched publish to SMTP 250 ({alerts} alerts, one at a time): median {latencies[alerts / 2]:F1} ms, p95 {latencies[(int)(alerts * 0.95)]:F1} ms, max {latencies[^1]:F1} ms"));
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    private static async Task<double> PublishAndWaitAsync(IBus bus, SmtpSink smtp, string paperId)
    {
        var paper = new PaperSummary(paperId, 1, $"Benchmark paper {paperId}", "An abstract about diffusion models.", ["Ada Lovelace"], ["cs.LG"], null,
            $"https://arxiv.org/abs/{paperId}", "bench", 0);
        var clock = Stopwatch.StartNew();
        await bus.Publish(new PaperMatched("alertbench", paper, 0.9, "diffusion models", "matches your interest 'diffusion models'", DateTimeOffset.UtcNow));
        await smtp.WaitForMessageAsync(m => m.MessageId?.Contains(Uri.EscapeDataString(paperId), StringComparison.Ordinal) == true, TimeSpan.FromSeconds(30));
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Rank's place in the digest benchmark: ten recommendations and trending papers, as rank would answer.</summary>
    private sealed class CannedPapers : IPaperSource
    {
        private static readonly DigestPaper[] Recommended = Enumerable.Range(0, 10).Select(i => Paper(i, "matches your interest 'diffusion models' (similarity 0.71)")).ToArray();
        private static readonly DigestPaper[] Hot = Enumerable.Range(100, 10).Select(i => Paper(i, "trending")).ToArray();

        public Task<IReadOnlyList<DigestPaper>> RecommendAsync(Subscriber subscriber, DateTimeOffset since, int limit, IReadOnlyCollection<string> exclude, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<DigestPaper>>(Recommended.Take(limit).ToArray());

        public Task<IReadOnlyList<DigestPaper>> TrendingAsync(Subscriber? subscriber, bool week, int limit, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<DigestPaper>>(Hot);

        private static DigestPaper Paper(int i, string reason) => new(
            $"2611.{i:D5}", $"Consistency models for fast diffusion sampling, part {i}", ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"],
            ["cs.LG", "cs.CV"], $"https://arxiv.org/abs/2611.{i:D5}",
            "We distil a diffusion model into a consistency model that samples in one to four steps while keeping most of the quality; experiments on ImageNet show competitive FID.",
            reason, DateTimeOffset.UtcNow);
    }
}
