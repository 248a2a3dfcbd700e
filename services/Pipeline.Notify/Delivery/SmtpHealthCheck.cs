using Microsoft.Extensions.Diagnostics.HealthChecks;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// The <c>smtp</c> entry of notify's readiness: <c>Degraded</c> while the last SMTP attempt failed
/// (<see cref="SmtpOutage"/>), naming since when, the last error and how many alerts are kept. It
/// never makes notify unready: notify still takes subscriptions and keeps every alert meanwhile.
/// </summary>
public sealed class SmtpHealthCheck(SmtpOutage outage, DeferredAlerts kept) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (outage.Ongoing() is not { } ongoing)
        {
            return HealthCheckResult.Healthy();
        }

        string waiting;
        try
        {
            waiting = $"{await kept.CountAsync()} alerts kept until it answers";
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            waiting = "the kept alerts cannot be counted (Redis)";
        }

        return HealthCheckResult.Degraded($"The SMTP server has been failing since {ongoing.Since:u} ({ongoing.Error}); {waiting}; digests are retried.");
    }
}
