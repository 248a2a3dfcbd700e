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
/// confirm in time), the work is tried again after 5, 10, 20, 30, 60 and 60 s
/// (<c>Bus:OutageRetrySeconds</c>), for as long as the message has been held less than
/// <see cref="MaxHold"/> (half the consumer watchdog's 300 s for a message in its handler, which
/// would otherwise restart the service mid-outage), so a Redis restart or a short network cut delays
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
    /// or "0" for none: an outage then ends in the error queue at once). Whatever they add up to, a
    /// message is held no longer than <see cref="MaxHold"/>.
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

        return waits;
    }

    /// <summary>
    /// How long a message may be held waiting out an outage, from its first attempt, attempts and
    /// earlier retries included: half the consumer watchdog's timeout for a message in its handler
    /// (<c>Bus:ConsumerWatchdog:ConsumeTimeoutSeconds</c>, 300 s: 150 s), which would otherwise take
    /// the message for a stuck one and restart the service mid-outage; the other half leaves room
    /// for the last attempt (an SMTP send takes up to six of its timeouts). Without the watchdog,
    /// the waits alone bound it.
    /// </summary>
    /// <param name="longestAttempt">
    /// For a service whose one attempt can take longer than half the watchdog's timeout (notify:
    /// an SMTP send), the hold is the timeout less this and a margin of 10 %, if that is shorter.
    /// </param>
    public static TimeSpan MaxHold(IConfiguration configuration, TimeSpan? longestAttempt = null)
    {
        if (!configuration.GetValue("Bus:ConsumerWatchdog:Enabled", true))
        {
            return TimeSpan.MaxValue;
        }

        var timeout = TimeSpan.FromSeconds(configuration.GetValue("Bus:ConsumerWatchdog:ConsumeTimeoutSeconds", 300.0));
        var half = timeout / 2;
        return longestAttempt is { } longest && timeout * 0.9 - longest < half
            ? TimeSpan.FromTicks(Math.Max(0, (timeout * 0.9 - longest).Ticks))
            : half;
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
/// outage (<see cref="BusRetry.IsOutage"/>) waits and runs it again, each wait in turn, as long as
/// the message has been held less than <paramref name="maxHold"/> (counted from its first
/// attempt, through the quick layer's and a consumer's own retries of the same delivery, attempts
/// included) once the next wait is over; anything else is thrown at once (to the quick layer).
/// The work must be safe to run again, as every consumer's already is for redeliveries. A stop
/// (the consumer's token) ends a wait at once, and the message goes back to its queue.
/// </summary>
public sealed class OutageRetry(IReadOnlyList<TimeSpan> waits, TimeSpan? maxHold = null, ILogger<OutageRetry>? logger = null, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public IReadOnlyList<TimeSpan> Waits { get; } = waits;

    /// <summary>The longest a message is held waiting out an outage.</summary>
    public TimeSpan MaxHold { get; } = maxHold ?? TimeSpan.FromSeconds(180);

    /// <summary>
    /// Runs <paramref name="work"/> for the message of <paramref name="context"/>; the time held is
    /// counted from the first attempt at this delivery (kept on its receive context, which every
    /// retry of it shares).
    /// </summary>
    public Task RunAsync(ConsumeContext context, Func<Task> work, string what)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = context.ReceiveContext.GetOrAddPayload(() => new HeldSince(_clock.GetTimestamp())).Timestamp;
        return RunAsync(work, what, context.CancellationToken, () => _clock.GetElapsedTime(started));
    }

    /// <summary>Runs <paramref name="work"/>; <paramref name="held"/> says how long the message has been held (from this call when not given).</summary>
    public async Task RunAsync(Func<Task> work, string what, CancellationToken cancellationToken, Func<TimeSpan>? held = null)
    {
        if (held is null)
        {
            var started = _clock.GetTimestamp();
            held = () => _clock.GetElapsedTime(started);
        }

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
                var heldSoFar = held();
                if (attempt >= Waits.Count || MaxHold - heldSoFar < Waits[attempt])
                {
                    throw new DependencyOutageException(
                        $"{what} failed through {attempt + 1} attempts over {heldSoFar.TotalSeconds:F0} s, a dependency out of reach: {e.Message}", e);
                }

                logger?.LogWarning("{Work} failed, a dependency out of reach ({Error}); trying again in {Wait} s (attempt {Attempt})",
                    what, e.Message, Waits[attempt].TotalSeconds, attempt + 1);
                await Task.Delay(Waits[attempt], _clock, cancellationToken);
            }
        }
    }

    private sealed record HeldSince(long Timestamp);
}
