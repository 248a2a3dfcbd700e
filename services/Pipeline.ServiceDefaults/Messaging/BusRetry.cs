using System.Globalization;
using Grpc.Core;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>
/// How every consumer's failures are retried before a message goes to its error queue, in two
/// layers. Outside (MassTransit's message retry): five quick retries (0.2 s growing to 10 s, about
/// 9 s in all) of anything but a malformed message (<see cref="ArgumentException"/>, which goes to
/// the error queue at once). Inside, around each consumer's work (<see cref="OutageRetry"/>): when a
/// dependency is out of reach (<see cref="IsOutage"/>: the service's Redis unreachable, timing out
/// or loading its data after a restart, a gRPC service unavailable, a publish the broker did not
/// confirm in time), the work is tried again after 5, 10, 20, 30, 60 and 60 s, about three minutes
/// in all (<c>Bus:OutageRetrySeconds</c>; kept under the consumer watchdog's 300 s for a message in
/// its handler, attempts included, which would otherwise restart the service mid-outage), so a Redis restart or a short network cut delays
/// messages instead of parking them in the error queue for an operator to replay. An outage that
/// outlasts every wait ends in the error queue at once (<see cref="DependencyOutageException"/>,
/// which the quick layer does not retry); a fault that is not an outage (a bug, Redis refusing
/// writes when full) after the quick retries. (MassTransit's own retry filters do not nest: the
/// first one to handle a message's exception is the only one its retries see.)
/// </summary>
public static class BusRetry
{
    /// <summary>The waits of the inner layer unless <c>Bus:OutageRetrySeconds</c> says otherwise.</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultOutageIntervals =
        [.. new[] { 5, 10, 20, 30, 60, 60 }.Select(s => TimeSpan.FromSeconds(s))];

    /// <summary>The quick layer: how many retries, and its exponential waits.</summary>
    public sealed record QuickRetries(int Count, TimeSpan Min, TimeSpan Max, TimeSpan Delta)
    {
        public static readonly QuickRetries Default = new(5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(300));
    }

    /// <summary>
    /// Whether <paramref name="e"/> (or what it wraps) says a dependency is out of reach for now,
    /// rather than that this message cannot be handled.
    /// </summary>
    public static bool IsOutage(Exception e) => e switch
    {
        // RedisTimeoutException is a TimeoutException; so are the bus's own publish timeouts.
        RedisConnectionException or TimeoutException => true,
        RedisServerException s => s.Message.StartsWith("LOADING", StringComparison.Ordinal)
            || s.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
            || s.Message.StartsWith("READONLY", StringComparison.Ordinal)
            || s.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
            || s.Message.StartsWith("BUSY", StringComparison.Ordinal),
        RpcException r => r.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded,
        AggregateException a => a.InnerExceptions.Any(IsOutage),
        _ => e.InnerException is { } inner && IsOutage(inner),
    };

    /// <summary>
    /// The inner layer's waits from <c>Bus:OutageRetrySeconds</c> (seconds, comma-separated; empty
    /// or "0" for none: an outage then ends in the error queue at once). Refused when they add up to
    /// 80 % or more of the consumer watchdog's timeout for a message in its handler.
    /// </summary>
    public static IReadOnlyList<TimeSpan> OutageIntervals(IConfiguration configuration)
    {
        var setting = configuration["Bus:OutageRetrySeconds"];
        if (setting is null)
        {
            return DefaultOutageIntervals;
        }

        var parts = setting.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var waits = new List<TimeSpan>();
        foreach (var part in parts)
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds < 0 || seconds > 3600)
            {
                throw new InvalidOperationException($"Bus:OutageRetrySeconds must be seconds between 0 and 3600, comma-separated; '{part}' is not.");
            }

            if (seconds > 0)
            {
                waits.Add(TimeSpan.FromSeconds(seconds));
            }
        }

        var consumeTimeout = configuration.GetValue("Bus:ConsumerWatchdog:ConsumeTimeoutSeconds", 300.0);
        var total = waits.Sum(w => w.TotalSeconds);
        if (configuration.GetValue("Bus:ConsumerWatchdog:Enabled", true) && total >= consumeTimeout * 0.8)
        {
            throw new InvalidOperationException(
                $"Bus:OutageRetrySeconds adds up to {total:F0} s, too close to Bus:ConsumerWatchdog:ConsumeTimeoutSeconds ({consumeTimeout:F0} s): " +
                "the watchdog would restart the service while a message waits out an outage. Shorten the waits or raise the timeout.");
        }

        return waits;
    }

    /// <summary>Adds the quick layer to a bus's (or an endpoint's) consume pipeline; consumers add the inner one (<see cref="OutageRetry"/>).</summary>
    public static void UsePipelineRetry(this IConsumePipeConfigurator configurator, QuickRetries? quick = null)
    {
        quick ??= QuickRetries.Default;
        configurator.UseMessageRetry(r =>
        {
            r.Exponential(quick.Count, quick.Min, quick.Max, quick.Delta);
            r.Ignore<ArgumentException>();
            r.Ignore<DependencyOutageException>();
        });
    }
}

/// <summary>A dependency stayed out of reach through every wait of <see cref="OutageRetry"/>: the message goes to the error queue.</summary>
public sealed class DependencyOutageException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The inner layer of <see cref="BusRetry"/>: runs a consumer's work, and while it fails with an
/// outage (<see cref="BusRetry.IsOutage"/>) waits and runs it again, each wait in turn; anything
/// else is thrown at once (to the quick layer). The work must be safe to run again, as every
/// consumer's already is for redeliveries. A stop (the consumer's token) ends a wait at once, and
/// the message goes back to its queue.
/// </summary>
public sealed class OutageRetry(IReadOnlyList<TimeSpan> waits, ILogger<OutageRetry>? logger = null)
{
    public IReadOnlyList<TimeSpan> Waits { get; } = waits;

    public async Task RunAsync(Func<Task> work, string what, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await work();
                if (attempt > 0)
                {
                    logger?.LogInformation("{Work} succeeded after an outage, at attempt {Attempt}", what, attempt + 1);
                }

                return;
            }
            catch (Exception e) when (BusRetry.IsOutage(e) && !cancellationToken.IsCancellationRequested)
            {
                if (attempt >= Waits.Count)
                {
                    var waited = Waits.Aggregate(TimeSpan.Zero, (a, b) => a + b);
                    throw new DependencyOutageException($"{what} failed through {attempt + 1} attempts over {waited.TotalSeconds:F0} s of waits, a dependency out of reach: {e.Message}", e);
                }

                logger?.LogWarning("{Work} failed, a dependency out of reach ({Error}); trying again in {Wait} s (attempt {Attempt} of {Attempts})",
                    what, e.Message, Waits[attempt].TotalSeconds, attempt + 1, Waits.Count + 1);
                await Task.Delay(Waits[attempt], cancellationToken);
            }
        }
    }
}
