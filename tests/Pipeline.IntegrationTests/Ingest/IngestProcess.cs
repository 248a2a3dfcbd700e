using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Ingest;

/// <summary>
/// The ingest service alone, as a process with its own Redis on free loopback ports and a gRPC
/// channel to it, for fixtures that point its sources at a local feed server.
/// </summary>
public sealed class IngestProcess : IAsyncDisposable
{
    private readonly RedisServer _redis;
    private readonly ServiceProcess _service;
    private readonly GrpcChannel _channel;

    private IngestProcess(RedisServer redis, ServiceProcess service, GrpcChannel channel, Uri health) =>
        (_redis, _service, _channel, Health) = (redis, service, channel, health);

    /// <summary>Its readiness endpoint.</summary>
    public Uri Health { get; }

    public bool IsRunning => _service.IsRunning;

    /// <summary>Calls to ingest, each bounded by a deadline when the test gives none.</summary>
    public IngestService.IngestServiceClient Client => new(_channel.Intercept(new DefaultDeadlineInterceptor(PipelineProcesses.DefaultDeadline)));

    /// <summary>
    /// Starts ingest on <paramref name="rabbitMq"/> with <paramref name="apiKey"/>, its scheduler off
    /// (tests poll with PollSource), and <paramref name="settings"/> on top (sources, telemetry).
    /// </summary>
    public static async Task<IngestProcess> StartAsync(string rabbitMq, string apiKey, IReadOnlyDictionary<string, string?> settings)
    {
        var redis = await RedisServer.StartNewAsync();
        var grpc = FreePort.Next();
        var http = FreePort.Next(p => p == grpc);
        var environment = new Dictionary<string, string?>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["ConnectionStrings__redis"] = redis.ConnectionString,
            ["ConnectionStrings__rabbitmq"] = rabbitMq,
            ["Security__ApiKeys__0"] = apiKey,
            // Tests poll with PollSource alone, so every count is one run's.
            ["Sources__SchedulerEnabled"] = "false",
        };
        foreach (var (key, value) in settings)
        {
            environment[key] = value;
        }

        var service = ServiceProcess.ForService("Pipeline.Ingest", environment);
        var health = new Uri($"http://127.0.0.1:{http}/health/ready");
        await service.StartAndWaitUntilReadyAsync(health, TimeSpan.FromSeconds(90));
        return new IngestProcess(redis, service, GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}"), health);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _service.DisposeAsync();
        await _redis.DisposeAsync();
    }
}
