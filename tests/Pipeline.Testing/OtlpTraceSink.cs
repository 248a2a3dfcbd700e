using System.Globalization;
using System.IO.Compression;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Testing.Otlp.Proto;

namespace Pipeline.Testing;

/// <summary>OTLP span kinds (values as on the wire).</summary>
public enum OtlpSpanKind
{
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// <summary>OTLP span status codes (values as on the wire).</summary>
public enum OtlpStatusCode
{
    Unset = 0,
    Ok = 1,
    Error = 2,
}

/// <summary>A span link: the trace and span it points to.</summary>
/// <summary>
/// One metric data point: <see cref="Value"/> is a sum's or gauge's value, or a histogram's sum;
/// <see cref="Count"/> is a histogram's count (0 for others).
/// </summary>
public sealed record ReceivedMetricPoint(
    string ServiceName, string Name, IReadOnlyDictionary<string, string> Attributes, double Value, long Count, DateTimeOffset Time)
{
    public override string ToString() =>
        $"{ServiceName} {Name} {{{string.Join(", ", Attributes.Select(a => a.Key + "=" + a.Value))}}} = {Value} (count {Count})";
}

public sealed record SpanLink(string TraceId, string SpanId, IReadOnlyDictionary<string, string> Attributes);

/// <summary>A span event (an exception is one, named "exception").</summary>
public sealed record SpanEvent(string Name, DateTimeOffset Time, IReadOnlyDictionary<string, string> Attributes);

/// <summary>
/// A span as the <see cref="OtlpTraceSink"/> received it. Ids are lower-case hex; attribute values
/// are rendered as strings (ints and doubles in invariant culture, booleans as true/false, arrays as [a, b]).
/// </summary>
public sealed record ReceivedSpan(
    string TraceId,
    string SpanId,
    string? ParentSpanId,
    string Name,
    OtlpSpanKind Kind,
    string ServiceName,
    IReadOnlyDictionary<string, string> Attributes,
    IReadOnlyList<SpanLink> Links,
    DateTimeOffset Start,
    DateTimeOffset End,
    OtlpStatusCode Status,
    string StatusMessage,
    string ScopeName,
    IReadOnlyList<SpanEvent> Events,
    IReadOnlyDictionary<string, string> ResourceAttributes)
{
    public bool IsRoot => ParentSpanId is null;

    public TimeSpan Duration => End - Start;

    /// <summary>The attribute's value, or null.</summary>
    public string? Attribute(string key) => Attributes.GetValueOrDefault(key);

    public override string ToString() =>
        $"{ServiceName}: {Name} ({Kind}) trace {TraceId} span {SpanId} parent {ParentSpanId ?? "-"}"
        + (Links.Count > 0 ? $" links {string.Join(", ", Links.Select(l => l.TraceId + "/" + l.SpanId))}" : "")
        + (Status == OtlpStatusCode.Error ? $" ERROR {StatusMessage}" : "");
}

/// <summary>
/// An in-process OTLP receiver for traces: gRPC (h2c) on <see cref="Endpoint"/>, the default protocol
/// of the OpenTelemetry .NET exporter, and http/protobuf on <see cref="HttpEndpoint"/>. Metric points
/// are kept in <see cref="Metrics"/>; logs exports are accepted and dropped, so a service exporting every signal sees no errors.
/// </summary>
public sealed class OtlpTraceSink : IAsyncDisposable
{
    private WebApplication? _app;
    private int _metricsExports;
    private int _logsExports;

    /// <summary>Port of the gRPC (HTTP/2 without TLS) listener.</summary>
    public int GrpcPort { get; private set; }

    /// <summary>Port of the HTTP/1.1 listener for http/protobuf.</summary>
    public int HttpPort { get; private set; }

    /// <summary>For OTEL_EXPORTER_OTLP_ENDPOINT with the gRPC protocol: <c>http://127.0.0.1:&lt;port&gt;</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{GrpcPort}";

    /// <summary>For OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (paths /v1/traces, /v1/metrics, /v1/logs).</summary>
    public string HttpEndpoint => $"http://127.0.0.1:{HttpPort}";

    /// <summary>Every span received, in arrival order.</summary>
    public ReceivedLog<ReceivedSpan> Spans { get; } = new();

    /// <summary>Every metric data point received: sums and gauges with their value, histograms with count and sum.</summary>
    public ReceivedLog<ReceivedMetricPoint> Metrics { get; } = new();

    /// <summary>How many metrics export requests arrived .</summary>
    public int MetricsExports => Volatile.Read(ref _metricsExports);

    /// <summary>How many logs export requests arrived (and were dropped).</summary>
    public int LogsExports => Volatile.Read(ref _logsExports);

    public static async Task<OtlpTraceSink> StartNewAsync(CancellationToken cancellationToken = default)
    {
        var sink = new OtlpTraceSink();
        await sink.StartAsync(cancellationToken).ConfigureAwait(false);
        return sink;
    }

    /// <summary>
    /// Environment for a process that should export here: the endpoint, the gRPC protocol, and short
    /// batch delays so spans arrive within a fraction of a second.
    /// </summary>
    public IReadOnlyDictionary<string, string?> ExporterEnvironment(string? serviceName = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
        };
        if (serviceName is not null)
        {
            environment["OTEL_SERVICE_NAME"] = serviceName;
        }

        return environment;
    }

    /// <summary>Starts listening; after a <see cref="StopAsync"/>, on the same ports again (a collector outage and recovery).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            return;
        }

        for (var attempt = 1; ; attempt++)
        {
            // A restart keeps the ports, so exporters configured with the endpoint find it again.
            var restart = GrpcPort != 0;
            var grpcPort = restart ? GrpcPort : FreePort.Next();
            var httpPort = restart ? HttpPort : FreePort.Next();
            var app = Build(grpcPort, httpPort);
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
                (_app, GrpcPort, HttpPort) = (app, grpcPort, httpPort);
                return;
            }
            catch (IOException) when (attempt < 5 && !restart)
            {
                // A port was taken between FreePort and Kestrel's bind: try two others.
                await app.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> spans match <paramref name="predicate"/> and returns
    /// all matching spans; throws a <see cref="TimeoutException"/> listing what arrived otherwise.
    /// </summary>
    public Task<IReadOnlyList<ReceivedSpan>> WaitForSpansAsync(
        Func<ReceivedSpan, bool> predicate, int count, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Spans.WaitForAsync(predicate, count, timeout, s => s.ToString(), cancellationToken);

    /// <summary>Waits for the first span matching <paramref name="predicate"/>.</summary>
    public async Task<ReceivedSpan> WaitForSpanAsync(
        Func<ReceivedSpan, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        (await WaitForSpansAsync(predicate, 1, timeout, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>Waits <paramref name="quietPeriod"/>; throws as soon as a (matching) span arrives after this call started.</summary>
    public Task AssertNoMoreSpansAsync(
        TimeSpan quietPeriod, Func<ReceivedSpan, bool>? predicate = null, CancellationToken cancellationToken = default) =>
        Spans.AssertNoMoreAsync(predicate ?? (_ => true), quietPeriod, s => s.ToString(), cancellationToken);

    /// <summary>The spans received so far of one trace, by start time.</summary>
    public IReadOnlyList<ReceivedSpan> Trace(string traceId) =>
        [.. Spans.Snapshot().Where(s => s.TraceId == traceId).OrderBy(s => s.Start)];

    /// <summary>The spans received so far whose parent is <paramref name="parent"/>.</summary>
    public IReadOnlyList<ReceivedSpan> ChildrenOf(ReceivedSpan parent) =>
        [.. Spans.Snapshot().Where(s => s.TraceId == parent.TraceId && s.ParentSpanId == parent.SpanId).OrderBy(s => s.Start)];

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    internal void Accept(ExportTraceServiceRequest request) => Spans.AddRange(Convert(request));

    internal void CountMetrics() => Interlocked.Increment(ref _metricsExports);

    internal void Accept(ExportMetricsServiceRequest request)
    {
        CountMetrics();
        Metrics.AddRange(Convert(request));
    }

    /// <summary>
    /// The newest point of a metric from a service whose attributes satisfy <paramref name="match"/>,
    /// waiting for it up to <paramref name="timeout"/>. .NET exports cumulative sums, so the newest
    /// point is the total so far.
    /// </summary>
    public async Task<ReceivedMetricPoint> WaitForMetricAsync(
        string serviceName, string metricName, Func<ReceivedMetricPoint, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        bool Matches(ReceivedMetricPoint p) => p.ServiceName == serviceName && p.Name == metricName && match(p);
        await Metrics.WaitForAsync(Matches, 1, timeout, p => p.ToString(), cancellationToken).ConfigureAwait(false);
        return Metrics.Snapshot().Where(Matches).MaxBy(p => p.Time)!;
    }

    internal void CountLogs() => Interlocked.Increment(ref _logsExports);

    private WebApplication Build(int grpcPort, int httpPort)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(OtlpTraceSink).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, grpcPort, o => o.Protocols = HttpProtocols.Http2);
            kestrel.Listen(IPAddress.Loopback, httpPort, o => o.Protocols = HttpProtocols.Http1);
            kestrel.Limits.MaxRequestBodySize = 64 * 1024 * 1024;
        });
        builder.Services.AddRouting();
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = 64 * 1024 * 1024);
        builder.Services.AddSingleton(this);

        var app = builder.Build();
        app.MapGrpcService<TraceReceiver>();
        app.MapGrpcService<MetricsReceiver>();
        app.MapGrpcService<LogsReceiver>();
        app.MapPost("/v1/traces", (RequestDelegate)(async context =>
        {
            var request = ExportTraceServiceRequest.Parser.ParseFrom(await ReadProtobufBodyAsync(context).ConfigureAwait(false));
            Accept(request);
            await WriteProtobufAsync(context, new ExportTraceServiceResponse()).ConfigureAwait(false);
        }));
        app.MapPost("/v1/metrics", (RequestDelegate)(async context =>
        {
            Accept(ExportMetricsServiceRequest.Parser.ParseFrom(await ReadProtobufBodyAsync(context).ConfigureAwait(false)));
            await WriteProtobufAsync(context, new ExportMetricsServiceResponse()).ConfigureAwait(false);
        }));
        app.MapPost("/v1/logs", (RequestDelegate)(async context =>
        {
            await ReadProtobufBodyAsync(context).ConfigureAwait(false);
            CountLogs();
            await WriteProtobufAsync(context, new ExportLogsServiceResponse()).ConfigureAwait(false);
        }));
        return app;
    }

    private static async Task<byte[]> ReadProtobufBodyAsync(HttpContext context)
    {
        var body = context.Request.Body;
        if (string.Equals(context.Request.Headers.ContentEncoding, "gzip", StringComparison.OrdinalIgnoreCase))
        {
            body = new GZipStream(body, CompressionMode.Decompress);
        }

        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private static async Task WriteProtobufAsync(HttpContext context, IMessage response)
    {
        context.Response.ContentType = "application/x-protobuf";
        await context.Response.Body.WriteAsync(response.ToByteArray(), context.RequestAborted).ConfigureAwait(false);
    }

    private static List<ReceivedSpan> Convert(ExportTraceServiceRequest request)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var resourceSpans in request.ResourceSpans)
        {
            var resource = Attributes(resourceSpans.Resource?.Attributes);
            var serviceName = resource.GetValueOrDefault("service.name") ?? "";
            foreach (var scopeSpans in resourceSpans.ScopeSpans)
            {
                var scope = scopeSpans.Scope?.Name ?? "";
                foreach (var span in scopeSpans.Spans)
                {
                    spans.Add(new ReceivedSpan(
                        Hex(span.TraceId),
                        Hex(span.SpanId),
                        span.ParentSpanId.IsEmpty ? null : Hex(span.ParentSpanId),
                        span.Name,
                        (OtlpSpanKind)(int)span.Kind,
                        serviceName,
                        Attributes(span.Attributes),
                        [.. span.Links.Select(l => new SpanLink(Hex(l.TraceId), Hex(l.SpanId), Attributes(l.Attributes)))],
                        Time(span.StartTimeUnixNano),
                        Time(span.EndTimeUnixNano),
                        (OtlpStatusCode)(int)(span.Status?.Code ?? Otlp.Proto.Status.Types.StatusCode.Unset),
                        span.Status?.Message ?? "",
                        scope,
                        [.. span.Events.Select(e => new SpanEvent(e.Name, Time(e.TimeUnixNano), Attributes(e.Attributes)))],
                        resource));
                }
            }
        }

        return spans;
    }

    private static List<ReceivedMetricPoint> Convert(ExportMetricsServiceRequest request)
    {
        var points = new List<ReceivedMetricPoint>();
        foreach (var resourceMetrics in request.ResourceMetrics)
        {
            var serviceName = Attributes(resourceMetrics.Resource?.Attributes).GetValueOrDefault("service.name") ?? "";
            foreach (var metric in resourceMetrics.ScopeMetrics.SelectMany(s => s.Metrics))
            {
                var numbers = metric.DataCase switch
                {
                    Metric.DataOneofCase.Sum => metric.Sum.DataPoints,
                    Metric.DataOneofCase.Gauge => metric.Gauge.DataPoints,
                    _ => [],
                };
                points.AddRange(numbers.Select(p => new ReceivedMetricPoint(serviceName, metric.Name, Attributes(p.Attributes),
                    p.ValueCase == NumberDataPoint.ValueOneofCase.AsInt ? p.AsInt : p.AsDouble, 0, Time(p.TimeUnixNano))));
                if (metric.DataCase == Metric.DataOneofCase.Histogram)
                {
                    points.AddRange(metric.Histogram.DataPoints.Select(p => new ReceivedMetricPoint(serviceName, metric.Name, Attributes(p.Attributes),
                        p.HasSum ? p.Sum : 0, (long)p.Count, Time(p.TimeUnixNano))));
                }
            }
        }

        return points;
    }

    private static string Hex(ByteString bytes) => System.Convert.ToHexStringLower(bytes.Span);

    private static DateTimeOffset Time(ulong unixNanos) => DateTimeOffset.UnixEpoch.AddTicks((long)(unixNanos / 100));

    private static Dictionary<string, string> Attributes(IEnumerable<KeyValue>? attributes)
    {
        var result = new Dictionary<string, string>();
        foreach (var attribute in attributes ?? [])
        {
            result[attribute.Key] = Render(attribute.Value);
        }

        return result;
    }

    private static string Render(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.ArrayValue => "[" + string.Join(", ", value.ArrayValue.Values.Select(Render)) + "]",
        AnyValue.ValueOneofCase.KvlistValue => "{" + string.Join(", ", value.KvlistValue.Values.Select(kv => kv.Key + "=" + Render(kv.Value))) + "}",
        AnyValue.ValueOneofCase.BytesValue => System.Convert.ToBase64String(value.BytesValue.Span),
        _ => "",
    };

    private sealed class TraceReceiver(OtlpTraceSink sink) : TraceService.TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            sink.Accept(request);
            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }

    private sealed class MetricsReceiver(OtlpTraceSink sink) : MetricsService.MetricsServiceBase
    {
        public override Task<ExportMetricsServiceResponse> Export(ExportMetricsServiceRequest request, ServerCallContext context)
        {
            sink.Accept(request);
            return Task.FromResult(new ExportMetricsServiceResponse());
        }
    }

    private sealed class LogsReceiver(OtlpTraceSink sink) : LogsService.LogsServiceBase
    {
        public override Task<ExportLogsServiceResponse> Export(ExportLogsServiceRequest request, ServerCallContext context)
        {
            sink.CountLogs();
            return Task.FromResult(new ExportLogsServiceResponse());
        }
    }
}
