using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts.Messages;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources;
using Pipeline.Ingest.Storage;
using Pipeline.ServiceDefaults;
using Pipeline.ServiceDefaults.Messaging;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.Ingest.Tests.Intake;

/// <summary>
/// <see cref="PaperIntake"/> as ingest runs it: a real redis-server, and a MassTransit in-memory
/// bus whose publishes go out while <see cref="BrokerUp"/> and otherwise wait for a confirmation
/// that never comes (the publish deadline, 2 s here, ends them), as with a broker that is down. The
/// deadline is not shorter so that a publish to the bus that is up never misses it on a busy
/// machine (CI runs the test projects side by side; 300 ms once failed a poll's publish).
/// </summary>
public sealed class IntakeHarness(RedisServerOptions? redisOptions = null) : IAsyncLifetime
{
    private readonly List<PaperIngested> _published = [];
    private readonly List<ActivityTraceId?> _publishedTraces = [];
    private RedisServer _redis = null!;
    private ConnectionMultiplexer _connection = null!;
    private IBusControl _bus = null!;

    public static readonly PublishDeadline Deadline = new(TimeSpan.FromSeconds(2));

    public bool BrokerUp { get; set; } = true;

    public IDatabase Database { get; private set; } = null!;

    public PaperStore Store { get; private set; } = null!;

    public PaperIntake Intake { get; private set; } = null!;

    public IBus Bus => _bus;

    public ServiceIdentity Identity { get; } = new("ingest-tests");

    public RedisServer Redis => _redis;

    /// <summary>Every PaperIngested the broker took, in order.</summary>
    public IReadOnlyList<PaperIngested> Published
    {
        get
        {
            lock (_published)
            {
                return _published.ToArray();
            }
        }
    }

    /// <summary>The trace each PaperIngested of <see cref="Published"/> was published in (null: none), in order.</summary>
    public IReadOnlyList<ActivityTraceId?> PublishedTraces
    {
        get
        {
            lock (_published)
            {
                return _publishedTraces.ToArray();
            }
        }
    }

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartNewAsync(redisOptions);
        _connection = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString + ",abortConnect=false");
        Database = _connection.GetDatabase();
        _bus = MassTransit.Bus.Factory.CreateUsingInMemory(cfg => cfg.ConfigurePublish(p => p.UseInlineFilter(async (context, next) =>
        {
            if (!BrokerUp)
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }

            await next.Send(context);
            if (context is PublishContext<PaperIngested> ingested)
            {
                lock (_published)
                {
                    _published.Add(ingested.Message);
                    _publishedTraces.Add(Activity.Current?.TraceId);
                }
            }
        })));
        await _bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Store = new PaperStore(Database);
        Intake = new PaperIntake(Store, _bus, Deadline, Identity, TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        BrokerUp = true;
        await _bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await _connection.DisposeAsync();
        await _redis.DisposeAsync();
        Identity.Dispose();
    }

    /// <summary>The sweep of unannounced papers, every 100 ms, for papers of any age.</summary>
    public UnpublishedPaperSweeper Sweeper() => new(
        Intake, Store, Options.Create(new RepublishOptions { Interval = TimeSpan.FromMilliseconds(100), MinAge = TimeSpan.Zero }),
        TimeProvider.System, NullLogger<UnpublishedPaperSweeper>.Instance);

    /// <summary>Waits up to 20 s for <paramref name="condition"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, $"Still not so after 20 s: {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>A runner of <paramref name="source"/> alone, recording into this Redis.</summary>
    public SourceRunner Runner(IPaperSource source) => new(
        [source], Intake, new SourceStateStore(Database), Options.Create(new SourcesOptions { SchedulerEnabled = false }),
        Identity, TimeProvider.System, NullLogger<SourceRunner>.Instance);

    public static PaperSubmission Paper(string id, string title = "Listening to honeybee hives", int version = 0, DateTimeOffset? publishedAt = null, string source = "api") =>
        new(id, version, title, "We record the hum of the hive.", ["Ada Lovelace"], ["q-bio.PE"], publishedAt ?? new DateTimeOffset(2024, 10, 22, 0, 0, 0, TimeSpan.Zero), null, source, 0);
}
