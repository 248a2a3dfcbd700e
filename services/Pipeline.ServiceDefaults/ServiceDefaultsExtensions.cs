using Grpc.Net.ClientFactory;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Pipeline.ServiceDefaults.Messaging;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults;

public static class ServiceDefaultsExtensions
{
    /// <summary>The name of MassTransit's ActivitySource and Meter.</summary>
    public const string MassTransitTelemetryName = "MassTransit";

    /// <summary>
    /// Wires what every service has: OpenTelemetry traces and metrics (OTLP export when
    /// OTEL_EXPORTER_OTLP_ENDPOINT is set), the service's own Redis, MassTransit on RabbitMQ, gRPC
    /// with health and reflection, and health checks. <paramref name="configureBus"/> adds the
    /// service's consumers.
    /// </summary>
    public static WebApplicationBuilder AddServiceDefaults(
        this WebApplicationBuilder builder,
        string serviceName,
        Action<IBusRegistrationConfigurator>? configureBus = null)
    {
        var identity = new ServiceIdentity(builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } n ? n : serviceName);
        builder.Services.AddSingleton(identity);
        ApiKeyValidator.CheckConfigured(builder.Configuration);
        builder.Services.AddSingleton<ApiKeyValidator>();

        builder.AddRedis();
        builder.AddTelemetry(identity);
        builder.AddBus(serviceName, configureBus);

        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = builder.Configuration.GetValue("Grpc:MaxReceiveMessageBytes", 16 * 1024 * 1024);
            o.EnableDetailedErrors = builder.Environment.IsDevelopment();
            // A call that fails because this service's Redis is out of reach answers UNAVAILABLE.
            o.Interceptors.Add<StoreUnavailableInterceptor>();
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks(o =>
        {
            // The empty service name is the whole server, as grpc_health_probe asks by default.
            o.Services.Map("", r => r.Tags.Contains("ready"));
        });

        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), tags: ["live"])
            .AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);

        // Hands back what a burst of calls made the garbage collector commit, once the service is quiet.
        if (IdleMemoryTrimmer.From(builder.Configuration) is { } trim)
        {
            builder.Services.AddSingleton(trim);
            builder.Services.TryAddSingleton(TimeProvider.System);
            builder.Services.AddHostedService<IdleMemoryTrimmer>();
        }

        // Keeps the heap from growing with what calls in flight leave in the old generation, while busy.
        if (OldGenerationSweeper.From(builder.Configuration) is { } sweep)
        {
            builder.Services.AddSingleton(sweep);
            builder.Services.TryAddSingleton(TimeProvider.System);
            builder.Services.AddHostedService<OldGenerationSweeper>();
        }

        return builder;
    }

    /// <summary>
    /// Health endpoints on every port (/health/live, /health/ready), the metrics in Prometheus's text
    /// format (/metrics), gRPC health and reflection.
    /// </summary>
    public static WebApplication MapServiceDefaults(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains("ready"),
            ResponseWriter = WriteHealthReport,
        });
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }

    /// <summary>
    /// A typed gRPC client for another service of the pipeline, at <c>Services:&lt;service&gt;:grpc</c>
    /// or the default port of ARCHITECTURE.md.
    /// </summary>
    public static IHttpClientBuilder AddPipelineGrpcClient<TClient>(this WebApplicationBuilder builder, string service)
        where TClient : class
    {
        var address = builder.Configuration[$"Services:{service}:grpc"] is { Length: > 0 } a
            ? new Uri(a)
            : ServicePorts.DefaultGrpcAddress(service);
        return builder.Services.AddGrpcClient<TClient>(o => o.Address = address)
            .ConfigureChannel(c => c.MaxReceiveMessageSize = 16 * 1024 * 1024);
    }

    private static void AddRedis(this WebApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("redis")
            ?? throw new InvalidOperationException("ConnectionStrings:redis is not set.");
        var options = ConfigurationOptions.Parse(connectionString);
        // Keep trying in the background while Redis is down instead of failing the process.
        options.AbortOnConnectFail = false;
        options.ClientName ??= builder.Environment.ApplicationName;
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(options));
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IConnectionMultiplexer>().GetDatabase());
    }

    private static void AddTelemetry(this WebApplicationBuilder builder, ServiceIdentity identity)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(identity.Name))
            .WithTracing(t => t
                // Lone Redis commands (probes, heartbeats, polls) start no trace of their own.
                .SetSampler(RedisTracing.Sampler())
                .AddSource(identity.ActivitySource.Name)
                .AddSource(MassTransitTelemetryName)
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !IsHealthProbe(ctx))
                .AddGrpcClientInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRedisInstrumentation())
            .WithMetrics(m => m
                .AddMeter(identity.Meter.Name)
                .AddMeter(MassTransitTelemetryName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                // Scraped at /metrics on the HTTP port, whether or not OTLP export is configured.
                .AddPrometheusExporter());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            // Reads the standard OTEL_EXPORTER_OTLP_* variables (endpoint, protocol, headers).
            otel.UseOtlpExporter();
        }
    }

    private static bool IsHealthProbe(HttpContext context) =>
        context.Request.Path.StartsWithSegments("/health")
        || context.Request.Path.StartsWithSegments("/metrics")
        || context.Request.Path.StartsWithSegments("/grpc.health.v1.Health");

    private static void AddBus(this WebApplicationBuilder builder, string serviceName, Action<IBusRegistrationConfigurator>? configureBus)
    {
        var rabbit = RabbitMqAddress.Parse(builder.Configuration.GetConnectionString("rabbitmq") ?? "amqp://guest:guest@127.0.0.1:5672/");
        var prefetch = builder.Configuration.GetValue("Bus:PrefetchCount", 16);
        var quorum = QueueTypeIsQuorum(builder.Configuration["Bus:QueueType"]);
        var outageIntervals = BusRetry.OutageIntervals(builder.Configuration);
        var maxHold = BusRetry.MaxHold(builder.Configuration);
        builder.Services.AddSingleton(sp => new OutageRetry(outageIntervals, maxHold, sp.GetRequiredService<ILogger<OutageRetry>>()));
        // Every publish from a consumer or a request waits at most this long for the broker's confirmation.
        builder.Services.AddSingleton(PublishDeadline.From(builder.Configuration));

        builder.Services.AddMassTransit(x =>
        {
            // Queues are named for the service and the consumer: embed-paper-ingested, rank-paper-embedded.
            x.SetEndpointNameFormatter(new KebabCaseEndpointNameFormatter(serviceName + "-", false));
            // MassTransit would otherwise report usage to its vendor over the internet on start.
            x.DisableUsageTelemetry();
            configureBus?.Invoke(x);
            if (quorum)
            {
                // Bus:QueueType=quorum, for a clustered broker: the consumer queues are replicated
                // (Raft) quorum queues, which survive the loss of a minority of the nodes. A queue's
                // type is fixed when it is declared: switching needs new queues (see operations.md).
                x.AddConfigureEndpointsCallback((_, _, endpoint) =>
                {
                    if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbitEndpoint)
                    {
                        rabbitEndpoint.SetQuorumQueue();
                    }
                });
            }

            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(rabbit.Host, rabbit.Port, rabbit.VirtualHost, h =>
                {
                    h.Username(rabbit.Username);
                    h.Password(rabbit.Password);
                    // The broker confirms every publish before Publish returns: a paper is not
                    // reported accepted until the broker has it.
                    h.PublisherConfirmation = true;
                    h.Heartbeat(TimeSpan.FromSeconds(10));
                });
                // Queues are durable and messages persistent (MassTransit's defaults, stated here).
                cfg.Durable = true;
                cfg.AutoDelete = false;
                cfg.PrefetchCount = prefetch;
                // Transient failures are retried in place, and consumers wait out an outage of a
                // dependency for up to two and a half minutes (BusRetry, OutageRetry); what still fails goes to <queue>_error with the exception in
                // its headers (MassTransit's fault handling). A message a consumer refuses as
                // malformed (ArgumentException) cannot succeed on a retry: it goes there at once.
                cfg.UsePipelineRetry();
                cfg.ConfigureEndpoints(context);
            });
        });
        builder.Services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = false;
            o.StopTimeout = TimeSpan.FromSeconds(15);
        });

        // A consumer the bus calls ready but the broker no longer has: found and the service restarted.
        if (builder.Configuration.GetValue("Bus:ConsumerWatchdog:Enabled", true))
        {
            builder.Services.TryAddSingleton(TimeProvider.System);
            builder.Services.AddSingleton<IQueueProbe>(_ => new RabbitMqQueueProbe(rabbit, serviceName + "-consumer-watchdog"));
            builder.Services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ConsumerWatchdog>(sp, serviceName + "-"));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ConsumerWatchdog>());
            builder.Services.AddReceiveEndpointObserver(sp => sp.GetRequiredService<ConsumerWatchdog>());
            builder.Services.AddReceiveObserver(sp => sp.GetRequiredService<ConsumerWatchdog>());
            builder.Services.AddHealthChecks().AddCheck<ConsumerWatchdog>("bus-consumers", tags: ["ready"]);
        }
    }

    /// <summary>Bus:QueueType: <c>classic</c> (the default) or <c>quorum</c>; anything else is a configuration error.</summary>
    public static bool QueueTypeIsQuorum(string? queueType) => queueType?.Trim().ToLowerInvariant() switch
    {
        null or "" or "classic" => false,
        "quorum" => true,
        _ => throw new InvalidOperationException($"Bus:QueueType is '{queueType}'; use classic or quorum."),
    };

    private static Task WriteHealthReport(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
    }
}
