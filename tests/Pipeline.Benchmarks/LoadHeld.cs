using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using MassTransit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.Testing;

namespace Pipeline.Benchmarks;

/// <summary>
/// Issue #7, "load held": the whole pipeline as in production (the four services as processes from
/// their Release builds, each with its own Redis, a private RabbitMQ node, an SMTP server), with
/// <c>subscribers</c> confirmed subscribers (Subscribe over gRPC, then the confirmation link from the
/// email, as a reader does) and then <c>papers</c> papers submitted in one burst (SubmitPapers, 1,000
/// per call). Measures the time until every queue has drained, checks that nothing was lost (every
/// paper indexed in rank, asked one by one through Similar; every error queue empty; one instant
/// alert per distinct PaperMatched, no duplicate Message-Id at the SMTP server), and samples each
/// process's resident memory (VmRSS each second, VmHWM at the end). Not a BenchmarkDotNet run:
/// <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- load-held [papers] [subscribers]</c>.
/// </summary>
public static partial class LoadHeld
{
    private const string ApiKey = "load-held-api-key";
    private const string VirtualHost = "load-held";
    private const string TapQueue = "load-held-tap-paper-matched";
    private static IReadOnlyList<string> ServiceNames => PipelineProcesses.ServiceNames;
    private static readonly TimeSpan PollEvery = TimeSpan.FromSeconds(3);

    public static async Task<int> RunAsync(string[] args)
    {
        var papers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        var subscribers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
        var drainTimeout = TimeSpan.FromMinutes(args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 120);
        var report = new StringBuilder();
        void Say(string line)
        {
            var stamped = $"[{DateTime.UtcNow:HH:mm:ss}] {line}";
            Console.WriteLine(stamped);
            lock (report)
            {
                report.AppendLine(stamped);
            }
        }

        Say($"load held: {papers} papers, {subscribers} subscribers; {Environment.ProcessorCount} cores, {CpuModel()}, {RamGb():F0} GB RAM; load average {LoadAverage()}");
        var failures = new List<string>();
        await using var system = new PipelineUnderLoad(subscribers);
        var total = Stopwatch.StartNew();
        await system.StartAsync(Say);
        var memory = new MemorySampler(system.Processes());
        memory.Mark("ready");

        // The mail that arrives: confirmations are clicked, alerts counted by Message-Id.
        var mail = new MailLedger(system.Smtp);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { Timeout = TimeSpan.FromSeconds(60) };
        var confirmers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            await foreach (var link in mail.ConfirmLinks.ReadAllAsync())
            {
                var answer = await http.GetAsync(link);
                mail.Confirmed(answer.StatusCode == HttpStatusCode.OK);
            }
        })).ToArray();

        // A tap on PaperMatched: its own queue bound to the event's exchange, so it sees every one rank publishes.
        var matched = new ConcurrentDictionary<(string Subscriber, string Paper), int>();
        var tap = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(system.Broker.ConnectionString(VirtualHost).Replace("amqp://guest:guest@", "rabbitmq://", StringComparison.Ordinal)), h =>
            {
                h.Username("guest");
                h.Password("guest");
            });
            cfg.ReceiveEndpoint(TapQueue, e =>
            {
                e.PrefetchCount = 256;
                e.Handler<PaperMatched>(context =>
                {
                    matched.AddOrUpdate((context.Message.SubscriberId, context.Message.Paper.Id), 1, (_, n) => n + 1);
                    return Task.CompletedTask;
                });
            });
        });
        await tap.StartAsync();

        try
        {
            // 1. Subscribers: Subscribe over gRPC, the link in the confirmation email, rank learns the profile.
            var corpus = new LoadHeldCorpus();
            var requests = Enumerable.Range(0, subscribers).Select(i => SubscribeRequestFor(i, corpus, DateTimeOffset.UtcNow)).ToArray();
            var ids = new string[subscribers];
            var phase = Stopwatch.StartNew();
            var notify = new SubscriptionService.SubscriptionServiceClient(system.Channel("notify"));
            await Parallel.ForEachAsync(Enumerable.Range(0, subscribers), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                var answer = await notify.SubscribeAsync(requests[i], new Metadata { { "x-api-key", ApiKey } }, cancellationToken: ct);
                ids[i] = answer.SubscriberId;
            });
            var subscribeSeconds = phase.Elapsed.TotalSeconds;
            await WaitUntilAsync(() => Task.FromResult(mail.ConfirmedCount + mail.ConfirmFailures >= subscribers), TimeSpan.FromMinutes(20), "every confirmation link was opened");
            var confirmSeconds = phase.Elapsed.TotalSeconds;
            await WaitUntilQueuesDrainedAsync(system.Broker, TimeSpan.FromMinutes(20));
            var rank = new RankingService.RankingServiceClient(system.Channel("rank"));
            var unknown = await CountAsync(ids, 8, async id => await StatusOf(() => rank.RecommendAsync(new RecommendRequest { SubscriberId = id, Limit = 1 }, new Metadata { { "x-api-key", ApiKey } }).ResponseAsync) != StatusCode.OK);
            Say(string.Create(CultureInfo.InvariantCulture,
                $"subscribers: {subscribers} subscribed in {subscribeSeconds:F1} s ({subscribers / subscribeSeconds:F0}/s), {mail.ConfirmedCount} confirmed through the link by {confirmSeconds:F1} s, "
                + $"rank knew {subscribers - unknown} of them at {phase.Elapsed.TotalSeconds:F1} s; cadences {string.Join(", ", requests.GroupBy(r => r.Cadence).Select(g => $"{g.Key}: {g.Count()}"))}"));
            if (mail.ConfirmFailures > 0 || unknown > 0)
            {
                failures.Add($"{mail.ConfirmFailures} confirmation links failed, {unknown} subscribers unknown to rank");
            }

            memory.Mark("subscribed");

            // 2. The burst: every paper in 1,000-paper SubmitPapers calls, two calls at a time.
            var ingest = new IngestService.IngestServiceClient(system.Channel("ingest"));
            var batch = Enumerable.Range(0, papers).Select(i => PaperFor(i, corpus)).ToArray();
            var words = batch.Select(p => p.Abstract.Split(' ').Length).Order().ToArray();
            Say($"papers: abstracts of {words[0]} to {words[^1]} words (median {words[words.Length / 2]}, mean {words.Average():F0}), titles of {batch.Min(p => p.Title.Length)} to {batch.Max(p => p.Title.Length)} characters");
            var key = new Metadata { { "x-api-key", ApiKey } };
            var accepted = 0;
            memory.Mark("burst");
            var burst = Stopwatch.StartNew();
            await Parallel.ForEachAsync(batch.Chunk(1_000), new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (chunk, ct) =>
            {
                var answer = await ingest.SubmitPapersAsync(new SubmitPapersRequest { Papers = { chunk } }, key, cancellationToken: ct);
                Interlocked.Add(ref accepted, answer.Accepted);
            });
            var submitSeconds = burst.Elapsed.TotalSeconds;
            Say(string.Create(CultureInfo.InvariantCulture, $"burst: {accepted} of {papers} accepted by SubmitPapers in {submitSeconds:F1} s ({papers / submitSeconds:F0} papers/s)"));
            if (accepted != papers)
            {
                failures.Add($"ingest accepted {accepted} of {papers} papers");
            }

            // 3. Until every queue is empty (two polls in a row), with the stages' finishing times.
            var (drainedAt, stages) = await WatchDrainAsync(system, memory, mail, matched, burst, drainTimeout, Say);
            memory.Mark("drained");
            Say(string.Create(CultureInfo.InvariantCulture,
                $"drained: every queue empty {drainedAt:F1} s after the burst began: {papers / drainedAt:F1} papers/s end to end; last alert email at {mail.LastAlertAt(burst):F1} s"));
            foreach (var (queue, seconds) in stages.OrderBy(s => s.Value))
            {
                Say(string.Create(CultureInfo.InvariantCulture, $"  {queue,-34} empty at every poll from {seconds,7:F1} s on"));
            }

            // 4. Nothing lost.
            var checkClock = Stopwatch.StartNew();
            var missing = new ConcurrentBag<string>();
            await CountAsync(batch.Select(p => p.Id).ToArray(), 8, async id =>
            {
                var status = await StatusOf(() => rank.SimilarAsync(new SimilarRequest { PaperId = id, Limit = 1 }).ResponseAsync);
                if (status != StatusCode.OK)
                {
                    missing.Add($"{id} ({status})");
                }

                return status != StatusCode.OK;
            });
            Say($"rank: {papers - missing.Count} of {papers} papers indexed (Similar asked for each, {checkClock.Elapsed.TotalSeconds:F1} s){(missing.IsEmpty ? "" : "; missing: " + string.Join(", ", missing.Take(10)))}");
            if (!missing.IsEmpty)
            {
                failures.Add($"{missing.Count} papers not indexed in rank");
            }

            var queues = await ListQueuesAsync(system.Broker);
            var errorQueues = queues.Where(q => q.Key.EndsWith("_error", StringComparison.Ordinal) || q.Key.EndsWith("_skipped", StringComparison.Ordinal)).ToArray();
            Say($"queues: {string.Join(", ", queues.OrderBy(q => q.Key).Select(q => $"{q.Key}={q.Value}"))}");
            Say(errorQueues.Length == 0 ? "error queues: none was created" : $"error/skipped queues: {string.Join(", ", errorQueues.Select(q => $"{q.Key}={q.Value}"))}");
            if (errorQueues.Any(q => q.Value > 0))
            {
                failures.Add("messages in error queues: " + string.Join(", ", errorQueues.Where(q => q.Value > 0).Select(q => $"{q.Key}={q.Value}")));
            }

            await Task.Delay(TimeSpan.FromSeconds(2)); // the last mail through the sink's drain
            mail.Pump();
            var published = matched.Values.Sum();
            var distinctMatches = matched.Count;
            var alertSubscribers = matched.Keys.Select(k => k.Subscriber).Distinct().Count();
            var instant = requests.Count(r => r.Cadence == Cadence.Instant);
            Say($"alerts: rank published {published} PaperMatched ({distinctMatches} distinct subscriber-paper pairs, for {alertSubscribers} of {instant} instant subscribers, "
                + $"{(matched.IsEmpty ? 0 : matched.Keys.GroupBy(k => k.Subscriber).Max(g => g.Count()))} at most for one); the SMTP server accepted {mail.Alerts} alerts with "
                + $"{mail.DistinctAlertIds} distinct Message-Ids ({mail.DuplicateIds} duplicates); {mail.Confirmations} confirmations, {mail.Others} other emails (digests)");
            var strays = mail.AlertPairs.Except(matched.Keys.Select(k => $"{k.Subscriber}.{Uri.EscapeDataString(k.Paper)}")).Count();
            if (mail.Alerts != distinctMatches || mail.DuplicateIds > 0 || strays > 0)
            {
                failures.Add($"alerts: {mail.Alerts} emailed vs {distinctMatches} distinct PaperMatched; {mail.DuplicateIds} duplicate Message-Ids; {strays} emails for no PaperMatched");
            }

            // 5. Memory, 30 s after the drain: does it come back down, or keep growing?
            await Task.Delay(TimeSpan.FromSeconds(30));
            memory.Mark("drained+30s");
            Say($"load average at the end: {LoadAverage()}; whole run {total.Elapsed.TotalMinutes:F1} min");
            Say("");
            foreach (var line in memory.Table())
            {
                Say(line);
            }
        }
        finally
        {
            memory.Dispose();
            mail.Dispose();
            await tap.StopAsync();
            await Task.WhenAny(Task.WhenAll(confirmers), Task.Delay(TimeSpan.FromSeconds(5)));
        }

        Say("");
        Say(failures.Count == 0 ? "RESULT: nothing lost, no duplicate email, every queue drained" : "RESULT: FAILED\n  " + string.Join("\n  ", failures));
        var path = Path.Combine(TestArtifacts.RunDirectory, "load-held.txt");
        await File.WriteAllTextAsync(path, report.ToString());
        Console.WriteLine($"report: {path}; service logs: {Path.GetDirectoryName(system.LogPath("rank"))}");
        return failures.Count == 0 ? 0 : 1;
    }

    private static SubscribeRequest SubscribeRequestFor(int i, LoadHeldCorpus corpus, DateTimeOffset now)
    {
        // Half instant (thresholds 0.45 to 0.60), the rest daily or weekly digests at an hour at
        // least four hours away in their time zone, so no digest falls inside the run.
        var cadence = (i % 20) switch
        {
            < 10 => Cadence.Instant,
            < 17 => Cadence.Daily,
            _ => Cadence.Weekly,
        };
        string[] zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"];
        var zone = zones[i % zones.Length];
        var localHour = TimeZoneInfo.ConvertTime(now, TimeZoneInfo.FindSystemTimeZoneById(zone)).Hour;
        var request = new SubscribeRequest
        {
            Email = $"reader{i.ToString("D6", CultureInfo.InvariantCulture)}@example.org",
            Cadence = cadence,
            Timezone = zone,
            Hour = (localHour + 4 + i % 16) % 24,
            MaxPapers = 5 + i % 11,
            InstantThreshold = cadence == Cadence.Instant ? 0.45 + 0.05 * (i / 20 % 4) : 0,
        };
        request.Interests.AddRange(corpus.InterestsFor(i));
        return request;
    }

    private static Paper PaperFor(int i, LoadHeldCorpus corpus)
    {
        var (title, text, categories, authors) = corpus.Paper(i);
        var id = $"2611.{i.ToString("D5", CultureInfo.InvariantCulture)}";
        return new Paper
        {
            Id = id, Version = 1, Title = title, Abstract = text, Authors = { authors }, Categories = { categories },
            Url = $"https://arxiv.org/abs/{id}", Source = "load-held",
        };
    }

    /// <summary>Polls the broker until every queue is empty twice in a row; prints progress every 30 s.</summary>
    private static async Task<(double DrainedAt, Dictionary<string, double> Stages)> WatchDrainAsync(
        PipelineUnderLoad system, MemorySampler memory, MailLedger mail, ConcurrentDictionary<(string, string), int> matched, Stopwatch burst, TimeSpan timeout,
        Action<string> say)
    {
        var emptySince = new Dictionary<string, double>();
        double? firstAllEmpty = null;
        var lastPrint = TimeSpan.Zero;
        while (true)
        {
            var queues = await ListQueuesAsync(system.Broker);
            var at = burst.Elapsed.TotalSeconds;
            foreach (var (queue, depth) in queues)
            {
                if (depth > 0)
                {
                    emptySince.Remove(queue);
                }
                else
                {
                    emptySince.TryAdd(queue, at);
                }
            }

            if (burst.Elapsed - lastPrint >= TimeSpan.FromSeconds(30))
            {
                lastPrint = burst.Elapsed;
                say(string.Create(CultureInfo.InvariantCulture,
                    $"+{at,5:F0} s  {string.Join(" ", queues.Where(q => !q.Key.StartsWith("load-held", StringComparison.Ordinal)).OrderBy(q => q.Key).Select(q => $"{q.Key}={q.Value}"))}"
                    + $" | matched {matched.Count}, alerts {mail.Alerts} | RSS MB {memory.NowLine()} | load {LoadAverage()}"));
            }

            if (queues.Values.All(d => d == 0))
            {
                if (firstAllEmpty is { } first)
                {
                    return (first, emptySince);
                }

                firstAllEmpty = at;
            }
            else
            {
                firstAllEmpty = null;
            }

            if (burst.Elapsed > timeout)
            {
                throw new TimeoutException($"The queues did not drain within {timeout}: {string.Join(", ", queues.Select(q => $"{q.Key}={q.Value}"))}");
            }

            await Task.Delay(PollEvery);
        }
    }

    private static async Task WaitUntilQueuesDrainedAsync(RabbitMqBroker broker, TimeSpan timeout)
    {
        var zeros = 0;
        await WaitUntilAsync(async () =>
        {
            zeros = (await ListQueuesAsync(broker)).Values.All(d => d == 0) ? zeros + 1 : 0;
            return zeros >= 2;
        }, timeout, "the subscribers' queues drained");
    }

    private static async Task<IReadOnlyDictionary<string, long>> ListQueuesAsync(RabbitMqBroker broker)
    {
        // rabbitmqctl can time out on a saturated machine; one failed poll is not a result.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await broker.ListQueuesAsync(VirtualHost);
            }
            catch (Exception) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting until {what}.");
            }

            await Task.Delay(500);
        }
    }

    private static async Task<int> CountAsync(IReadOnlyList<string> ids, int concurrency, Func<string, Task<bool>> isBad)
    {
        var bad = 0;
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (id, _) =>
        {
            if (await isBad(id))
            {
                Interlocked.Increment(ref bad);
            }
        });
        return bad;
    }

    private static async Task<StatusCode> StatusOf(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static string CpuModel() =>
        File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";

    private static double RamGb() =>
        long.Parse(File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0 / 1024.0;

    /// <summary>The four services and their Redis servers (<see cref="PipelineProcesses"/>), the broker and the SMTP server, started and stopped together.</summary>
    private sealed class PipelineUnderLoad(int subscribers) : IAsyncDisposable
    {
        private PipelineProcesses? _processes;

        public RabbitMqBroker Broker { get; private set; } = null!;

        public SmtpSink Smtp { get; private set; } = null!;

        public GrpcChannel Channel(string service) => _processes!.Channel(service);

        public string LogPath(string service) => _processes!.Services[service].LogPath;

        public async Task StartAsync(Action<string> say)
        {
            var clock = Stopwatch.StartNew();
            Broker = await RabbitMqBroker.StartNewAsync();
            await Broker.CreateVirtualHostAsync(VirtualHost);
            Smtp = await SmtpSink.StartNewAsync();
            _processes = new PipelineProcesses(Broker.ConnectionString(VirtualHost), Smtp, ApiKey);
            await _processes.StartAsync(_ => new Dictionary<string, string?>
            {
                // Every subscriber here comes from one client (127.0.0.1); the per-client limit is for the open internet.
                ["Notify__SubscribePerClientLimit"] = (2 * subscribers + 100).ToString(CultureInfo.InvariantCulture),
                ["Notify__SubscribeGlobalLimit"] = (2 * subscribers + 100).ToString(CultureInfo.InvariantCulture),
                // No polling of arXiv or Hugging Face: the papers are the burst.
                ["Sources__SchedulerEnabled"] = "false",
            }, TimeSpan.FromSeconds(180));

            say($"started RabbitMQ, 4 Redis servers, the SMTP server and notify, embed, rank, ingest (Release) in {clock.Elapsed.TotalSeconds:F1} s");
        }

        public IReadOnlyList<(string Name, int Pid)> Processes()
        {
            var list = ServiceNames.Select(n => (n, _processes!.Services[n].ProcessId!.Value)).ToList();
            list.AddRange(ServiceNames.Select(n => ($"redis-{n}", _processes!.Redis[n].ProcessId!.Value)));
            if (Broker.ErlangProcessId is { } beam)
            {
                list.Add(("rabbitmq", beam));
            }

            list.Add(("benchmark+smtp", Environment.ProcessId));
            return list;
        }

        public async ValueTask DisposeAsync()
        {
            if (_processes is not null)
            {
                await _processes.DisposeAsync();
            }

            if (Smtp is not null)
            {
                await Smtp.DisposeAsync();
            }

            if (Broker is not null)
            {
                await Broker.DisposeAsync();
            }
        }
    }

    /// <summary>Takes the SMTP server's messages as they arrive (so a long run does not hold them all) and counts them.</summary>
    private sealed partial class MailLedger : IDisposable
    {
        private readonly SmtpSink _smtp;
        private readonly HashSet<string> _ids = [];
        private readonly HashSet<string> _alertPairs = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _pump;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _lastAlert;
        private int _confirmed;
        private int _confirmFailures;

        public MailLedger(SmtpSink smtp)
        {
            _smtp = smtp;
            _pump = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Pump();
                    await Task.Delay(100).ConfigureAwait(false);
                }
            });
        }

        public Channel<Uri> ConfirmLinksChannel { get; } = System.Threading.Channels.Channel.CreateUnbounded<Uri>();

        public ChannelReader<Uri> ConfirmLinks => ConfirmLinksChannel.Reader;

        public int Alerts { get; private set; }

        public int Confirmations { get; private set; }

        public int Others { get; private set; }

        public int DuplicateIds { get; private set; }

        public int DistinctAlertIds
        {
            get
            {
                lock (_ids)
                {
                    return _alertPairs.Count;
                }
            }
        }

        public IReadOnlyCollection<string> AlertPairs
        {
            get
            {
                lock (_ids)
                {
                    return [.. _alertPairs];
                }
            }
        }

        public int ConfirmedCount => Volatile.Read(ref _confirmed);

        public int ConfirmFailures => Volatile.Read(ref _confirmFailures);

        public void Confirmed(bool ok)
        {
            if (ok)
            {
                Interlocked.Increment(ref _confirmed);
            }
            else
            {
                Interlocked.Increment(ref _confirmFailures);
            }
        }

        /// <summary>Seconds from the burst's start to the last alert accepted.</summary>
        public double LastAlertAt(Stopwatch burst) => Alerts == 0 ? double.NaN : (burst.Elapsed - (_clock.Elapsed - _lastAlert)).TotalSeconds;

        public void Pump()
        {
            lock (_ids)
            {
                foreach (var email in _smtp.Received.Drain())
                {
                    var id = email.Message.MessageId ?? "";
                    if (!_ids.Add(id))
                    {
                        DuplicateIds++;
                    }

                    if (id.StartsWith("alert.", StringComparison.Ordinal))
                    {
                        Alerts++;
                        _alertPairs.Add(id["alert.".Length..id.IndexOf('@', StringComparison.Ordinal)]);
                        _lastAlert = _clock.Elapsed;
                    }
                    else if (id.StartsWith("confirm.", StringComparison.Ordinal))
                    {
                        Confirmations++;
                        var link = LinkPattern().Matches(email.Message.TextBody ?? "").Select(m => new Uri(m.Value)).First(u => u.AbsolutePath == "/confirm");
                        ConfirmLinksChannel.Writer.TryWrite(link);
                    }
                    else
                    {
                        Others++;
                    }
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _pump.Wait(TimeSpan.FromSeconds(5));
            ConfirmLinksChannel.Writer.TryComplete();
            _stop.Dispose();
        }

        [GeneratedRegex(@"https?://\S+")]
        private static partial Regex LinkPattern();
    }

    /// <summary>VmRSS of each process every second (the peak per phase), VmHWM and CPU time on demand.</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly IReadOnlyList<(string Name, int Pid)> _processes;
        private readonly List<(string Phase, long[] Rss, double[] Cpu)> _marks = [];
        private readonly long[] _phasePeak;
        private readonly List<(string Phase, long[] Peak)> _peaks = [];
        private readonly Timer _timer;
        private string _phase = "start";

        public MemorySampler(IReadOnlyList<(string Name, int Pid)> processes)
        {
            _processes = processes;
            _phasePeak = new long[processes.Count];
            _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        }

        public void Mark(string phase)
        {
            lock (_marks)
            {
                _peaks.Add((_phase, (long[])_phasePeak.Clone()));
                Array.Clear(_phasePeak);
                _phase = phase;
                _marks.Add((phase, _processes.Select(p => Status(p.Pid, "VmRSS")).ToArray(), _processes.Select(p => CpuSeconds(p.Pid)).ToArray()));
            }
        }

        public string NowLine() =>
            string.Join(' ', _processes.Take(4).Select(p => $"{p.Name} {Status(p.Pid, "VmRSS") / 1024}"));

        public IEnumerable<string> Table()
        {
            lock (_marks)
            {
                var peak = _peaks.ToDictionary(p => p.Phase, p => p.Peak);
                var mark = _marks.ToDictionary(m => m.Phase);
                yield return "| process | RSS ready | peak RSS while subscribing | RSS subscribed | peak RSS, burst to drain | RSS drained | RSS 30 s later | VmHWM | CPU s, burst to drain |";
                yield return "|---|---:|---:|---:|---:|---:|---:|---:|---:|";
                for (var i = 0; i < _processes.Count; i++)
                {
                    static string Mb(long kb) => kb < 0 ? "–" : $"{kb / 1024.0:F0} MB";
                    var burstPeak = Math.Max(peak.GetValueOrDefault("burst")?[i] ?? -1, mark["drained"].Rss[i]);
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"| {_processes[i].Name} | {Mb(mark["ready"].Rss[i])} | {Mb(peak.GetValueOrDefault("ready")?[i] ?? -1)} | {Mb(mark["subscribed"].Rss[i])} | {Mb(burstPeak)} "
                        + $"| {Mb(mark["drained"].Rss[i])} | {Mb(mark["drained+30s"].Rss[i])} | {Mb(Status(_processes[i].Pid, "VmHWM"))} "
                        + $"| {mark["drained"].Cpu[i] - mark["burst"].Cpu[i]:F0} |");
                }
            }
        }

        public void Dispose() => _timer.Dispose();

        private void Sample()
        {
            lock (_marks)
            {
                for (var i = 0; i < _processes.Count; i++)
                {
                    _phasePeak[i] = Math.Max(_phasePeak[i], Status(_processes[i].Pid, "VmRSS"));
                }
            }
        }

        /// <summary>A kB field of /proc/&lt;pid&gt;/status, or -1 when the process is gone.</summary>
        private static long Status(int pid, string field)
        {
            try
            {
                var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
                return line is null ? -1 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return -1;
            }
        }

        /// <summary>User plus system CPU time of the process, from /proc/&lt;pid&gt;/stat (clock ticks of 10 ms).</summary>
        private static double CpuSeconds(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
            }
            catch (IOException)
            {
                return double.NaN;
            }
        }
    }
}
