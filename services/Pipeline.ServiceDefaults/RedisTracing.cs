using OpenTelemetry.Instrumentation.StackExchangeRedis;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// How the services trace their Redis commands: a command inside a trace is a span of it; one made
/// outside any span (readiness probes' PING, heartbeats, the schedulers' polls, every few seconds)
/// is not exported as a one-span trace of its own, which would bury the papers' traces.
/// </summary>
public static class RedisTracing
{
    public static void Configure(StackExchangeRedisInstrumentationOptions options) =>
        options.Filter = command => command.ParentActivity is not null;
}
