using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// Ready only while the service's own Redis answers a PING. For a service whose Redis is only a
/// cache (embed: <c>Health:RedisRequired=false</c>), an outage is Degraded (still 200: the service
/// works without it) instead of Unhealthy.
/// </summary>
internal sealed class RedisHealthCheck(IConnectionMultiplexer redis, Microsoft.Extensions.Configuration.IConfiguration configuration) : IHealthCheck
{
    private readonly bool _required = !string.Equals(configuration["Health:RedisRequired"], "false", StringComparison.OrdinalIgnoreCase);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e)
        {
            return _required
                ? HealthCheckResult.Unhealthy("Redis does not answer", e)
                : HealthCheckResult.Degraded("Redis (a cache here) does not answer; working without it", e);
        }
    }
}
