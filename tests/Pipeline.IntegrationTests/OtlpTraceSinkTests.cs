using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

public sealed class OtlpTraceSinkTests : IAsyncLifetime
{
    private OtlpTraceSink _sink = null!;

    public async Task InitializeAsync() => _sink = await OtlpTraceSink.StartNewAsync();

    public async Task DisposeAsync() => await _sink.DisposeAsync();

    [Theory]
    [InlineData(OtlpExportProtocol.Grpc)]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    public async Task Spans_from_the_OpenTelemetry_exporter_arrive_with_parent_child_relation_and_service_name(OtlpExportProtocol protocol)
    {
        using var source = new ActivitySource($"Pipeline.IntegrationTests.Otlp.{protocol}");
        using var provider = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(r => r.AddService("otlp-sink-test"))
            .AddSource(source.Name)
            .AddOtlpExporter(o =>
            {
                o.Protocol = protocol;
                o.Endpoint = protocol == OtlpExportProtocol.Grpc ? new Uri(_sink.Endpoint) : new Uri(_sink.HttpEndpoint + "/v1/traces");
            })
            .Build();

        string traceId, parentId, childId;
        using (var parent = source.StartActivity("ingest paper", ActivityKind.Server))
        {
            Assert.NotNull(parent);
            parent.SetTag("paper.id", "2410.17243");
            parent.SetTag("paper.count", 3);
            parent.SetTag("paper.accepted", true);
            parent.SetTag("paper.score", 0.5);
            parent.SetTag("paper.authors", new[] { "Ada", "Bob" });
            using (var child = source.StartActivity("publish PaperIngested", ActivityKind.Producer))
            {
                Assert.NotNull(child);
                childId = child.SpanId.ToHexString();
                child.SetStatus(ActivityStatusCode.Error, "broker down");
            }

            traceId = parent.TraceId.ToHexString();
            parentId = parent.SpanId.ToHexString();
        }

        Assert.True(provider.ForceFlush(10_000));

        var spans = await _sink.WaitForSpansAsync(s => s.TraceId == traceId, 2, TimeSpan.FromSeconds(10));
        var root = Assert.Single(spans, s => s.Name == "ingest paper");
        var leaf = Assert.Single(spans, s => s.Name == "publish PaperIngested");
        Assert.Equal(parentId, root.SpanId);
        Assert.True(root.IsRoot);
        Assert.Equal(OtlpSpanKind.Server, root.Kind);
        Assert.Equal("otlp-sink-test", root.ServiceName);
        Assert.Equal(source.Name, root.ScopeName);
        Assert.Equal("2410.17243", root.Attribute("paper.id"));
        Assert.Equal("3", root.Attribute("paper.count"));
        Assert.Equal("true", root.Attribute("paper.accepted"));
        Assert.Equal("0.5", root.Attribute("paper.score"));
        Assert.Equal("[Ada, Bob]", root.Attribute("paper.authors"));
        Assert.True(root.End >= root.Start && root.Start > DateTimeOffset.UtcNow.AddMinutes(-5));

        Assert.Equal(childId, leaf.SpanId);
        Assert.Equal(parentId, leaf.ParentSpanId);
        Assert.Equal(OtlpSpanKind.Producer, leaf.Kind);
        Assert.Equal(OtlpStatusCode.Error, leaf.Status);
        Assert.Equal("broker down", leaf.StatusMessage);
        Assert.Equal([leaf], _sink.ChildrenOf(root));
        Assert.Equal(2, _sink.Trace(traceId).Count);
    }

    [Fact]
    public async Task Span_links_arrive_with_the_trace_and_span_they_point_to()
    {
        using var source = new ActivitySource("Pipeline.IntegrationTests.Otlp.Links");
        using var provider = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(r => r.AddService("digest-sender"))
            .AddSource(source.Name)
            .AddOtlpExporter(o => o.Endpoint = new Uri(_sink.Endpoint))
            .Build();

        var paperA = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var paperB = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        using (source.StartActivity("send digest", ActivityKind.Client, parentContext: default, links: [new ActivityLink(paperA), new ActivityLink(paperB)]))
        {
        }

        provider.ForceFlush(10_000);

        var digest = await _sink.WaitForSpanAsync(s => s.Name == "send digest", TimeSpan.FromSeconds(10));
        Assert.Equal(
            [(paperA.TraceId.ToHexString(), paperA.SpanId.ToHexString()), (paperB.TraceId.ToHexString(), paperB.SpanId.ToHexString())],
            digest.Links.Select(l => (l.TraceId, l.SpanId)));
        Assert.Equal("digest-sender", digest.ServiceName);
        await _sink.AssertNoMoreSpansAsync(TimeSpan.FromMilliseconds(300), s => s.Name == "send digest");
    }

    [Fact]
    public async Task A_restarted_sink_listens_on_the_same_endpoint_again()
    {
        var endpoint = _sink.Endpoint;
        await _sink.StopAsync();
        Assert.False(FreePort.IsListening(_sink.GrpcPort));

        await _sink.StartAsync();

        Assert.Equal(endpoint, _sink.Endpoint);
        Assert.True(FreePort.IsListening(_sink.GrpcPort));
        Assert.True(FreePort.IsListening(_sink.HttpPort));
    }

    [Fact]
    public void The_exporter_environment_points_a_process_at_the_grpc_endpoint()
    {
        var environment = _sink.ExporterEnvironment("ingest");

        Assert.Equal(_sink.Endpoint, environment["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        Assert.Equal("grpc", environment["OTEL_EXPORTER_OTLP_PROTOCOL"]);
        Assert.Equal("ingest", environment["OTEL_SERVICE_NAME"]);
        Assert.StartsWith("http://127.0.0.1:", _sink.Endpoint);
    }
}
