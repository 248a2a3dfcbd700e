using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Pipeline.Testing;

/// <summary>
/// The four services as processes from their build output, each with its own Redis, on a broker
/// virtual host the caller owns, mailing an SMTP server the caller owns: started consumers first
/// (notify, embed, rank, ingest: every queue exists before anyone publishes, and rank finds embed up) and stopped in the
/// reverse order. Used by the integration tests' pipeline, the rank rebuild tests and the
/// load-held benchmark, so the three start the services the same way.
/// </summary>
public sealed class PipelineProcesses(string rabbitMqConnectionString, SmtpSink smtp, string apiKey) : IAsyncDisposable
{
    /// <summary>In the order they start.</summary>
    public static readonly IReadOnlyList<string> ServiceNames = ["notify", "embed", "rank", "ingest"];

    /// <summary>The exit code with which a service asks to be started again (ConsumerWatchdog.ExitCode).</summary>
    public const int WatchdogExitCode = 75;

    private readonly Dictionary<string, RedisServer> _redis = [];
    private readonly Dictionary<string, ServiceProcess> _services = [];
    private readonly Dictionary<string, (int Grpc, int Http)> _ports = [];
    private readonly Dictionary<string, GrpcChannel> _channels = [];

    public IReadOnlyDictionary<string, ServiceProcess> Services => _services;

    public IReadOnlyDictionary<string, RedisServer> Redis => _redis;

    public Uri HttpBase(string service) => new($"http://127.0.0.1:{_ports[service].Http}");

    public int GrpcPort(string service) => _ports[service].Grpc;

    public GrpcChannel Channel(string service) => _channels[service];

    /// <summary>
    /// Calls to <paramref name="service"/> that end by <see cref="DefaultDeadline"/> at the latest
    /// when the caller gives no deadline: a service that never answers fails the test instead of
    /// holding the run.
    /// </summary>
    public CallInvoker Calls(string service) => _channels[service].Intercept(new DefaultDeadlineInterceptor(DefaultDeadline));

    /// <summary>The deadline of a call made through <see cref="Calls"/> without one of its own.</summary>
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Starts a Redis per service, then each service with <see cref="EnvironmentFor"/> and what
    /// <paramref name="extra"/> adds for it (winning over the base), waiting until each is ready.
    /// </summary>
    public async Task StartAsync(Func<string, IReadOnlyDictionary<string, string?>>? extra = null, TimeSpan? readyTimeout = null)
    {
        var redisStarts = ServiceNames.ToDictionary(n => n, _ => RedisServer.StartNewAsync());
        var taken = new HashSet<int>();
        foreach (var (name, start) in redisStarts)
        {
            _redis[name] = await start;
            var grpc = FreePort.Next(taken.Contains);
            taken.Add(grpc);
            var http = FreePort.Next(taken.Contains);
            taken.Add(http);
            _ports[name] = (grpc, http);
        }

        foreach (var name in ServiceNames)
        {
            var environment = EnvironmentFor(name);
            foreach (var (key, value) in extra?.Invoke(name) ?? new Dictionary<string, string?>())
            {
                environment[key] = value;
            }

            var service = ServiceProcess.ForService("Pipeline." + char.ToUpperInvariant(name[0]) + name[1..], environment);
            // The consumer watchdog's exit (a consumer the broker lost): compose starts it again, so do we.
            service.RestartExitCode = WatchdogExitCode;
            _services[name] = service;
            await service.StartAndWaitUntilReadyAsync(new Uri(HttpBase(name), "/health/ready"), readyTimeout ?? TimeSpan.FromSeconds(90));
            _channels[name] = GrpcChannel.ForAddress($"http://127.0.0.1:{_ports[name].Grpc}");
        }
    }

    /// <summary>What every run of the pipeline gives a service: its ports and Redis, the broker, the API key, the other services' addresses and the SMTP server.</summary>
    public Dictionary<string, string?> EnvironmentFor(string name) => new()
    {
        ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{_ports[name].Grpc}",
        ["Kestrel__Endpoints__Http__Url"] = HttpBase(name).ToString().TrimEnd('/'),
        ["ConnectionStrings__redis"] = _redis[name].ConnectionString,
        ["ConnectionStrings__rabbitmq"] = rabbitMqConnectionString,
        ["Security__ApiKeys__0"] = apiKey,
        ["Services__embed__grpc"] = $"http://127.0.0.1:{_ports["embed"].Grpc}",
        ["Services__rank__grpc"] = $"http://127.0.0.1:{_ports["rank"].Grpc}",
        ["Services__ingest__grpc"] = $"http://127.0.0.1:{_ports["ingest"].Grpc}",
        ["Services__notify__grpc"] = $"http://127.0.0.1:{_ports["notify"].Grpc}",
        ["Smtp__Host"] = smtp.Host,
        ["Smtp__Port"] = smtp.Port.ToString(CultureInfo.InvariantCulture),
        ["Notify__PublicBaseUrl"] = HttpBase("notify").ToString().TrimEnd('/'),
    };

    /// <summary>Channels closed, then the services (producers first, so nothing is published to a consumer that has gone), then their Redis servers.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        foreach (var name in ServiceNames.Reverse())
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
    }
}

/// <summary>Gives every call that has no deadline of its own one <paramref name="deadline"/> from now.</summary>
public sealed class DefaultDeadlineInterceptor(TimeSpan deadline) : Interceptor
{
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, Bounded(context));

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, Bounded(context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, Bounded(context));

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(Bounded(context));

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(Bounded(context));

    private ClientInterceptorContext<TRequest, TResponse> Bounded<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class =>
        context.Options.Deadline is not null
            ? context
            : new(context.Method, context.Host, context.Options.WithDeadline(DateTime.UtcNow + deadline));
}
