using System.Collections.Concurrent;
using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults.Tests;

/// <summary>
/// A service's Redis commands outside any span (readiness probes, heartbeats, polls) start no
/// trace of their own; commands inside a trace are kept in it. Real Redis, the real Redis
/// instrumentation configured as the services configure it.
/// </summary>
public sealed class RedisTracingSpecs
{
    private sealed class Recorder : BaseProcessor<Activity>
    {
        public ConcurrentQueue<Activity> Ended { get; } = new();

        public override void OnEnd(Activity data)
        {
            if (data.Recorded)
            {
                Ended.Enqueue(data);
            }
        }
    }

    [Fact]
    public async Task A_lone_command_leaves_no_trace_and_a_command_in_a_trace_stays_in_it()
    {
        await using var redis = await RedisServer.StartNewAsync();
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        using var source = new ActivitySource("sampler-spec");
        var recorder = new Recorder();
        using var provider = Sdk.CreateTracerProviderBuilder()
            .AddSource(source.Name)
            .SetSampler(RedisTracing.Sampler())
            .AddRedisInstrumentation(connection, o => o.FlushInterval = TimeSpan.FromMilliseconds(100))
            .AddProcessor(recorder)
            .Build();
        var db = connection.GetDatabase();

        Activity.Current = null;
        await db.PingAsync();
        await db.StringSetAsync("lone", "probe");
        using var work = source.StartActivity("work");
        await db.StringSetAsync("traced", "paper");

        // Exported while its parent is still open (a rebuild's writes must not wait in memory
        // for the rebuild's span to end), and in the parent's trace.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!recorder.Ended.Any(a => a.DisplayName == "SET" && a.ParentSpanId != default) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        await Task.Delay(500); // a lone command would be drained with the same flush
        var traced = Assert.Single(recorder.Ended, a => a.DisplayName == "SET");
        Assert.Equal((work!.TraceId, work.SpanId), (traced.TraceId, traced.ParentSpanId));
        Assert.DoesNotContain(recorder.Ended, a => a.OperationName == "work");
        Assert.DoesNotContain(recorder.Ended, a => a.ParentSpanId == default);
    }

    [Fact]
    public void Any_other_root_is_kept()
    {
        var parameters = new SamplingParameters(default, ActivityTraceId.CreateRandom(), "pipeline.ingest.v1.IngestService/SubmitPapers", ActivityKind.Server,
            [new("rpc.system", "grpc")]);

        Assert.Equal(SamplingDecision.RecordAndSample, RedisTracing.Sampler().ShouldSample(parameters).Decision);
    }
}
