using Grpc.Core;
using Grpc.Net.Client;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.IntegrationTests.Rank;

/// <summary>
/// Rank's Redis is lost and rank restarts empty; <c>RebuildIndex</c> refills its Redis and its
/// index from ingest's <c>ListPapers</c> and embed's <c>Embed</c>, and the next restart loads
/// them again. Ingest, embed and rank run as processes with a Redis each, on a virtual host of the
/// shared broker; rank's state is wiped here, so they are not the shared pipeline's.
/// </summary>
public sealed class RankRebuildTests(RabbitMqFixture rabbit) : RabbitMqTestBase(rabbit)
{
    private const string ApiKey = "rank-rebuild-test-key";
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(90);
    private static readonly string[] Services = ["rank", "embed", "ingest"];
    private readonly Dictionary<string, RedisServer> _redis = [];
    private readonly Dictionary<string, ServiceProcess> _services = [];
    private readonly Dictionary<string, (int Grpc, int Http)> _ports = [];
    private readonly Dictionary<string, GrpcChannel> _channels = [];

    private RankingService.RankingServiceClient Rank => new(_channels["rank"]);

    private static Metadata WithApiKey => new() { { "x-api-key", ApiKey } };

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        foreach (var name in Services)
        {
            _redis[name] = await RedisServer.StartNewAsync();
            var grpc = FreePort.Next();
            _ports[name] = (grpc, FreePort.Next(p => p == grpc));
        }

        // Consumers first, so their queues exist before anyone publishes.
        foreach (var name in Services)
        {
            var service = ServiceProcess.ForService("Pipeline." + char.ToUpperInvariant(name[0]) + name[1..], new Dictionary<string, string?>
            {
                ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{_ports[name].Grpc}",
                ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{_ports[name].Http}",
                ["ConnectionStrings__redis"] = _redis[name].ConnectionString,
                ["ConnectionStrings__rabbitmq"] = ConnectionString,
                ["Security__ApiKeys__0"] = ApiKey,
                ["Services__embed__grpc"] = $"http://127.0.0.1:{_ports["embed"].Grpc}",
                ["Services__ingest__grpc"] = $"http://127.0.0.1:{_ports["ingest"].Grpc}",
                ["Sources__SchedulerEnabled"] = "false",
            });
            _services[name] = service;
            await service.StartAndWaitUntilReadyAsync(Ready(name), Arrival);
            _channels[name] = GrpcChannel.ForAddress($"http://127.0.0.1:{_ports[name].Grpc}");
        }
    }

    [Fact]
    public async Task After_rank_loses_its_redis_a_rebuild_restores_every_paper_from_ingest_and_embed()
    {
        Paper[] papers = [Papers.ProteinFolding(), Papers.QuantumErrorCorrection(), Papers.MedievalTaxes()];
        var submitted = await new IngestService.IngestServiceClient(_channels["ingest"])
            .SubmitPapersAsync(new SubmitPapersRequest { Papers = { papers } }, WithApiKey);
        Assert.Equal(3, submitted.Accepted);
        await WaitUntilAsync(async () => await KnowsAsync(papers[0].Id) && await KnowsAsync(papers[2].Id), "rank indexed the papers");

        // Rank's Redis is lost, and rank restarts with nothing to load.
        using (var redis = await ConnectionMultiplexer.ConnectAsync(_redis["rank"].ConnectionString + ",allowAdmin=true"))
        {
            await redis.GetServer(_redis["rank"].ConnectionString).FlushAllDatabasesAsync();
        }

        await _services["rank"].RestartAsync();
        await _services["rank"].WaitUntilReadyAsync(Ready("rank"), Arrival);
        Assert.False(await KnowsAsync(papers[0].Id));

        var rebuilt = await Rank.RebuildIndexAsync(new RebuildIndexRequest(), WithApiKey, deadline: DateTime.UtcNow.AddMinutes(2));

        Assert.Equal(3, rebuilt.Papers);
        foreach (var paper in papers)
        {
            Assert.True(await KnowsAsync(paper.Id), $"rank knows {paper.Id} after the rebuild");
        }

        var found = await Rank.SearchAsync(new SearchRequest { Query = "protein structure prediction", Limit = 1 });
        Assert.Equal(papers[0].Id, found.Papers.Single().Id);
        Assert.Equal(papers[0].Abstract, found.Papers.Single().Abstract);

        // The rebuild wrote rank's Redis, not only its memory: a restart loads the papers again.
        await _services["rank"].RestartAsync();
        await _services["rank"].WaitUntilReadyAsync(Ready("rank"), Arrival);
        foreach (var paper in papers)
        {
            Assert.True(await KnowsAsync(paper.Id), $"rank knows {paper.Id} after a restart");
        }
    }

    [Fact]
    public async Task A_rebuild_needs_the_api_key()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Rank.RebuildIndexAsync(new RebuildIndexRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
    }

    private Uri Ready(string name) => new($"http://127.0.0.1:{_ports[name].Http}/health/ready");

    /// <summary>Rank knows a paper when Similar finds it (NotFound otherwise).</summary>
    private async Task<bool> KnowsAsync(string paperId)
    {
        try
        {
            await Rank.SimilarAsync(new SimilarRequest { PaperId = paperId, Limit = 1 });
            return true;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Arrival;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(200);
        }
    }

    public override async Task DisposeAsync()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        foreach (var name in Enumerable.Reverse(Services))
        {
            if (_services.TryGetValue(name, out var service))
            {
                await service.DisposeAsync();
            }
        }

        foreach (var redis in _redis.Values)
        {
            await redis.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}
