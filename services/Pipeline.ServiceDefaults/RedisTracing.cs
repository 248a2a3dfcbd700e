using OpenTelemetry.Trace;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// The services' sampler: parent-based, as OpenTelemetry's default, except that a Redis command
/// issued outside any span (readiness probes' PING, heartbeats, the schedulers' polls, every few
/// seconds) is not kept as a one-span trace of its own, which would bury the papers' traces.
/// Every other root, and every command inside a trace, is kept. (The Redis instrumentation's own
/// Filter would do the same but holds every traced command in memory until its parent span ends:
/// a whole RebuildIndex's writes.)
/// </summary>
public sealed class RedisTracing : Sampler
{
    private static readonly SamplingResult Keep = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    /// <summary>Parent-based: children follow their parent; roots are kept unless they are a lone Redis command.</summary>
    public static Sampler Sampler() => new ParentBasedSampler(new RedisTracing());

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        if (samplingParameters.Tags is { } tags)
        {
            foreach (var (key, value) in tags)
            {
                // The Redis instrumentation names the system when it creates the span (old or new conventions).
                if (key is "db.system" or "db.system.name" && value is "redis")
                {
                    return Drop;
                }
            }
        }

        return Keep;
    }
}
