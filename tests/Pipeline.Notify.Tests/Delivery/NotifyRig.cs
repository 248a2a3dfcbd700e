using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// notify's delivery classes wired as the service wires them, against a real redis-server (seen
/// through <see cref="FlakyRedis"/>, so a test can make chosen commands time out), the SMTP sink
/// and an in-memory bus; rank is replaced by <see cref="CannedPapers"/>.
/// </summary>
internal sealed class NotifyRig : IAsyncDisposable
{
    private NotifyRig(RedisServer server, ConnectionMultiplexer connection, SmtpSink smtp, IBusControl bus, NotifyOptions options, int smtpTimeoutSeconds)
    {
        (Server, Connection, Smtp, Bus) = (server, connection, smtp, bus);
        Redis = new FlakyRedis(connection.GetDatabase());
        var db = Redis.Database;
        var clock = TimeProvider.System;
        Options = options;
        var notifyOptions = Microsoft.Extensions.Options.Options.Create(options);
        var smtpOptions = Microsoft.Extensions.Options.Options.Create(new SmtpOptions { Host = smtp.Host, Port = smtp.Port, TimeoutSeconds = smtpTimeoutSeconds });
        Identity = new ServiceIdentity("notify-test");
        Mail = new MailSender(smtpOptions, new SmtpConnectionPool(smtpOptions, clock), Identity);
        Store = new SubscriberStore(db);
        Instance = new NotifyInstance();
        Ledger = new DeliveryLedger(db, Instance);
        Schedule = new DigestSchedule(db);
        Tokens = new SubscriptionTokens("notify test signing key of 32 chars!"u8.ToArray(), clock);
        Subscriptions = new Subscriptions(Store, Tokens, Mail, bus, Schedule,
            new SubscribeRateLimits(notifyOptions, clock), notifyOptions, clock);
        Digests = new DigestSender(Store, Ledger, Papers, new PaperTraceStore(db), Mail, Subscriptions, bus, new PublishDeadline(TimeSpan.FromSeconds(5)), Identity, clock,
            Logs.For<DigestSender>());
        Alerts = new AlertSender(Store, Ledger, Subscriptions, Mail, clock, new PublishDeadline(TimeSpan.FromSeconds(5)), Logs.For<AlertSender>());
    }

    public RedisServer Server { get; }
    public ConnectionMultiplexer Connection { get; }
    public SmtpSink Smtp { get; }
    public IBusControl Bus { get; }
    public FlakyRedis Redis { get; }
    public ServiceIdentity Identity { get; }
    public MailSender Mail { get; }
    public SubscriberStore Store { get; }
    public NotifyInstance Instance { get; }
    public DeliveryLedger Ledger { get; }
    public DigestSchedule Schedule { get; }
    public SubscriptionTokens Tokens { get; }
    public NotifyOptions Options { get; }
    public Subscriptions Subscriptions { get; }
    public DigestSender Digests { get; }
    public AlertSender Alerts { get; }
    public CannedPapers Papers { get; } = new();
    public TestLogs Logs { get; } = new();

    private List<Pipeline.Contracts.Messages.DigestSent> AnnouncedList { get; init; } = [];

    /// <summary>Every DigestSent published (what rank is told was sent), in order.</summary>
    public IReadOnlyList<Pipeline.Contracts.Messages.DigestSent> Announced
    {
        get
        {
            lock (AnnouncedList)
            {
                return AnnouncedList.ToArray();
            }
        }
    }

    public static async Task<NotifyRig> StartAsync(NotifyOptions? options = null, int smtpTimeoutSeconds = 10)
    {
        var server = await RedisServer.StartNewAsync();
        var connection = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var smtp = await SmtpSink.StartNewAsync();
        var announced = new List<Pipeline.Contracts.Messages.DigestSent>();
        var bus = MassTransit.Bus.Factory.CreateUsingInMemory(cfg => cfg.ConfigurePublish(p => p.UseInlineFilter(async (context, next) =>
        {
            await next.Send(context);
            if (context is PublishContext<Pipeline.Contracts.Messages.DigestSent> sent)
            {
                lock (announced)
                {
                    announced.Add(sent.Message);
                }
            }
        })));
        await bus.StartAsync();
        return new NotifyRig(server, connection, smtp, bus, options ?? new NotifyOptions(), smtpTimeoutSeconds) { AnnouncedList = announced };
    }

    /// <summary>An active daily subscriber, saved.</summary>
    public async Task<Subscriber> ActiveSubscriberAsync(string id = "reader1", string cadence = "daily")
    {
        var now = DateTimeOffset.UtcNow;
        var subscriber = new Subscriber(id, $"{id}@example.org", ["diffusion models"], cadence, "UTC", 7, 10, 0.5, SubscriptionStatus.Active,
            now.AddDays(-3), now.AddDays(-3), now.AddDays(-3));
        await Store.SaveAsync(subscriber);
        return subscriber;
    }

    /// <summary>The emails the SMTP server took with this Message-Id (one, when nothing went out twice).</summary>
    public IReadOnlyList<ReceivedEmail> EmailsWithId(string messageId) =>
        Smtp.Messages.Where(e => e.Message.MessageId == messageId).ToArray();

    public async ValueTask DisposeAsync()
    {
        await Bus.StopAsync();
        Identity.Dispose();
        await Smtp.DisposeAsync();
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>
/// Rank's place: thirty new papers for everyone (so a second digest would still have something to
/// send), and a hook that runs while a digest is being composed.
/// </summary>
internal sealed class CannedPapers : IPaperSource
{
    /// <summary>Runs inside each Recommend call, before it answers (a slow rank, or something happening meanwhile).</summary>
    public Func<Task>? WhileRecommending { get; set; }

    /// <summary>The window each Recommend asked for, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<DateTimeOffset> AskedSince { get; } = new();

    public async Task<IReadOnlyList<DigestPaper>> RecommendAsync(Subscriber subscriber, DateTimeOffset since, int limit, IReadOnlyCollection<string> exclude,
        CancellationToken cancellationToken)
    {
        AskedSince.Enqueue(since);
        if (WhileRecommending is { } hook)
        {
            await hook();
        }

        return Enumerable.Range(1, 30).Select(i => DigestSamples.Paper(i)).Where(p => !exclude.Contains(p.Id)).Take(limit).ToArray();
    }

    public Task<IReadOnlyList<DigestPaper>> TrendingAsync(Subscriber? subscriber, bool week, int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DigestPaper>>(Enumerable.Range(100, limit).Select(i => DigestSamples.Paper(i, $"Trending paper {i}")).ToArray());
}

/// <summary>What the classes under test logged, for the operator's view of a failure.</summary>
internal sealed class TestLogs
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToArray();
            }
        }
    }

    public ILogger<T> For<T>() => new Logger<T>(this);

    private void Add(LogLevel level, string message)
    {
        lock (_entries)
        {
            _entries.Add((level, message));
        }
    }

    private sealed class Logger<T>(TestLogs logs) : ILogger<T>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            logs.Add(logLevel, formatter(state, exception));
    }
}
