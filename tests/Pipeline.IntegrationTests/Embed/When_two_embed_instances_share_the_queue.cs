using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MassTransit;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Messages;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Embed;

/// <summary>
/// Scale-out as <c>docker compose up --scale embed=2</c> runs it: two embed processes on one
/// virtual host and one (embed's) Redis compete for <c>embed-paper-ingested</c>. What they did is
/// read from each instance's own log: embed logs one line per model run with the texts it ran.
/// </summary>
public sealed partial class When_two_embed_instances_share_the_queue(RabbitMqFixture fixture) : RabbitMqTestBase(fixture)
{
    private const int Papers = 60;

    private readonly ConcurrentDictionary<string, int> _embedded = new();
    private readonly List<ServiceProcess> _instances = [];
    private RedisServer? _redis;
    private IBusControl? _bus;

    [Fact]
    public async Task Each_paper_is_embedded_once_and_both_instances_take_a_share()
    {
        var papers = Enumerable.Range(0, Papers).Select(NewPaper).ToArray();

        foreach (var paper in papers)
        {
            await _bus!.PublishBoundedAsync(paper);
        }

        await WaitUntilAsync(() => papers.All(p => _embedded.ContainsKey(p.Paper.Id)), TimeSpan.FromSeconds(90));
        // Room for a second copy to show up if a paper were embedded twice.
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.All(papers, p => Assert.Equal(1, _embedded[p.Paper.Id]));
        var runs = _instances.Select(ModelRunsOf).ToArray();
        // Every paper went through the model exactly once, across both instances…
        Assert.Equal(Papers, runs.Sum(r => r.Sum(run => run.Texts)));
        // …and each instance ran some of them.
        Assert.All(runs, r => Assert.True(r.Sum(run => run.Texts) > 0, "an instance embedded nothing"));
        // Messages delivered together share model runs (the batcher, fed by concurrent consumers).
        Assert.Contains(runs.SelectMany(r => r), run => run.Callers > 1);
    }

    [Fact]
    public async Task A_paper_delivered_again_to_the_other_instance_is_served_from_the_shared_cache()
    {
        var papers = Enumerable.Range(0, 20).Select(NewPaper).ToArray();
        foreach (var paper in papers)
        {
            await _bus!.PublishBoundedAsync(paper);
        }

        await WaitUntilAsync(() => papers.All(p => _embedded.ContainsKey(p.Paper.Id)), TimeSpan.FromSeconds(90));
        // The console logger writes from a queue of its own; let it catch up.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var modelTextsBefore = _instances.Sum(i => ModelRunsOf(i).Sum(r => r.Texts));

        // The same papers again, as after a redelivery: either instance may take each one.
        foreach (var paper in papers)
        {
            await _bus!.PublishBoundedAsync(paper);
        }

        await WaitUntilAsync(() => papers.All(p => _embedded.GetValueOrDefault(p.Paper.Id) >= 2), TimeSpan.FromSeconds(60));

        Assert.Equal(20, modelTextsBefore);
        Assert.Equal(modelTextsBefore, _instances.Sum(i => ModelRunsOf(i).Sum(r => r.Texts)));

        // Kept under the model's id and its files' fingerprint: another package's weights would not be served these.
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis!.ConnectionString);
        var keys = redis.GetServer(_redis.ConnectionString).Keys(pattern: "embed:*").Select(k => k.ToString()).ToArray();
        Assert.Equal(20, keys.Length);
        Assert.All(keys, k => Assert.Matches(@"^embed:sentence-transformers/all-MiniLM-L6-v2@[0-9a-f]{16}:[0-9a-f]{64}$", k));
    }

    [Fact]
    public async Task Embed_states_its_per_call_limit_refuses_more_and_truncates_a_megabyte_text()
    {
        using var channel = GrpcChannel.ForAddress(_instances[0].Environment["Kestrel__Endpoints__Grpc__Url"]!);
        var client = new EmbedService.EmbedServiceClient(channel.Intercept(new DefaultDeadlineInterceptor(PipelineProcesses.DefaultDeadline)));

        var model = await client.GetModelAsync(new GetModelRequest());
        Assert.Equal(256, model.MaxTextsPerCall);
        var tooMany = new EmbedRequest();
        tooMany.Texts.Add(Enumerable.Range(0, model.MaxTextsPerCall + 1).Select(i => $"text {i}"));
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.EmbedAsync(tooMany).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("at most 256", refused.Status.Detail, StringComparison.Ordinal);

        var megabyte = string.Concat(Enumerable.Repeat("Large language models memorise their training data. ", 20_200));
        var response = await client.EmbedAsync(new EmbedRequest { Texts = { megabyte, "\u0000\u0007 控制字符", "" } });
        Assert.Equal(3, response.Embeddings.Count);
        Assert.All(response.Embeddings, e => Assert.Equal(1.0, Math.Sqrt(e.Values.Sum(v => (double)v * v)), 4));
    }

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _redis = await RedisServer.StartNewAsync();

        var ports = new HashSet<int>();
        for (var i = 0; i < 2; i++)
        {
            var grpc = FreePort.Next(ports.Contains);
            ports.Add(grpc);
            var http = FreePort.Next(ports.Contains);
            ports.Add(http);
            _instances.Add(ServiceProcess.ForService("Pipeline.Embed", new Dictionary<string, string?>
            {
                ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
                ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
                ["ConnectionStrings__redis"] = _redis.ConnectionString,
                ["ConnectionStrings__rabbitmq"] = ConnectionString,
                // Two instances on a two-core machine: one core each.
                ["Embedding__IntraOpThreads"] = "1",
                // The test counts model runs exactly: a cache lookup slowed past the production
                // timeout (250 ms) on a busy machine would re-embed and miscount.
                ["Embedding__CacheTimeout"] = "00:00:05",
                ["Logging__LogLevel__Default"] = "Information",
            }));
        }

        await Task.WhenAll(_instances.Select(i => i.StartAndWaitUntilReadyAsync(
            new Uri(i.Environment["Kestrel__Endpoints__Http__Url"] + "/health/ready"), TimeSpan.FromSeconds(90))));

        _bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)Broker.AmqpPort, VirtualHost, h =>
            {
                h.Username("guest");
                h.Password("guest");
                h.PublisherConfirmation = true;
            });
            cfg.ReceiveEndpoint("embed-tests-paper-embedded", e => e.Handler<PaperEmbedded>(context =>
            {
                _embedded.AddOrUpdate(context.Message.Paper.Id, 1, (_, n) => n + 1);
                return Task.CompletedTask;
            }));
        });
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.StartAsync(startTimeout.Token);
    }

    public override async Task DisposeAsync()
    {
        if (_bus is not null)
        {
            await _bus.StopBoundedAsync();
        }

        foreach (var instance in _instances)
        {
            await instance.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    private static PaperIngested NewPaper(int i)
    {
        // Distinct texts of a realistic length (about 150 word pieces), so no two share a cache entry.
        var id = $"test:{Guid.NewGuid():N}";
        var @abstract = string.Join(' ', Enumerable.Range(0, 12).Select(s => $"Sentence {s} of paper {i} ({id}) studies sparse attention for long documents."));
        return new PaperIngested(
            new PaperSummary(id, 1, $"Paper {i} on scaling embeddings", @abstract, ["A. Author"], ["cs.LG"], DateTimeOffset.UtcNow, $"https://example.org/{id}", "test", 0),
            ContentHash: id, IsUpdate: false, IngestedAt: DateTimeOffset.UtcNow);
    }

    /// <summary>The model runs an instance has logged so far.</summary>
    private static (int Texts, int Callers)[] ModelRunsOf(ServiceProcess instance) =>
        ModelRunLine().Matches(File.ReadAllText(instance.LogPath))
            .Select(m => (int.Parse(m.Groups["texts"].Value, System.Globalization.CultureInfo.InvariantCulture), int.Parse(m.Groups["callers"].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .ToArray();

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Not every paper was embedded within {timeout}.");
            await Task.Delay(100);
        }
    }

    [GeneratedRegex(@"Model run on (?<texts>\d+) texts from (?<callers>\d+) callers")]
    private static partial Regex ModelRunLine();
}
