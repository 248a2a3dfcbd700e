using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>
/// Looks every <c>Bus:ConsumerWatchdog:IntervalSeconds</c> (10) for two faults of the bus that
/// MassTransit does not recover from in place, and restarts the service on either:
/// <list type="bullet">
/// <item>A <b>lost consumer</b>: a queue whose endpoint the bus reports ready and that the
/// service's consumers read (named with the service's prefix, as rank-paper-embedded; not the bus's
/// own reply endpoint, which is declared when first used) has had no consumer at every look, through
/// a connection of its own, for <c>Bus:ConsumerWatchdog:GraceSeconds</c> (30)
/// (<see cref="ConsumerLiveness"/>). MassTransit does not restart an endpoint it believes healthy.</item>
/// <item>A <b>stuck message</b>: one message of such a queue has been in its handler, retries
/// included, for <c>Bus:ConsumerWatchdog:ConsumeTimeoutSeconds</c> (300) (<see cref="InFlightReceives"/>).
/// It holds one of its endpoint's concurrency slots, and when every slot is held the queue is read
/// by nobody although it has a consumer.</item>
/// </list>
/// The watchdog then reports the check unhealthy and stops the service with exit code
/// <see cref="ExitCode"/>, and its supervisor starts it again (compose's
/// <c>restart: unless-stopped</c>, deploy/local's loop). Nothing is lost: unacknowledged messages
/// go back to their queues, and every consumer is idempotent.
/// </summary>
public sealed class ConsumerWatchdog(
    string queuePrefix,
    IQueueProbe probe,
    IHostApplicationLifetime lifetime,
    TimeProvider clock,
    IConfiguration configuration,
    ILogger<ConsumerWatchdog> logger) : BackgroundService, IReceiveEndpointObserver, IReceiveObserver, IHealthCheck
{
    /// <summary>EX_TEMPFAIL: a temporary failure, start me again.</summary>
    public const int ExitCode = 75;

    private readonly object _sync = new();
    private readonly ConsumerLiveness _liveness = new(TimeSpan.FromSeconds(configuration.GetValue("Bus:ConsumerWatchdog:GraceSeconds", 30.0)));
    private readonly TimeSpan _interval = TimeSpan.FromSeconds(configuration.GetValue("Bus:ConsumerWatchdog:IntervalSeconds", 10.0));
    private readonly TimeSpan _consumeTimeout = TimeSpan.FromSeconds(configuration.GetValue("Bus:ConsumerWatchdog:ConsumeTimeoutSeconds", 300.0));
    private readonly InFlightReceives _inFlight = new();
    private volatile LostConsumer? _lost;

    /// <summary>The queue whose consumer was found lost or stuck, if any.</summary>
    public string? LostQueue => _lost?.Queue;

    /// <summary>How many of the service's messages are in their handlers now.</summary>
    public int InFlight => _inFlight.Count;

    public Task Ready(ReceiveEndpointReady ready) => Mark(ready.InputAddress, isReady: true);

    public Task Stopping(ReceiveEndpointStopping stopping) => Mark(stopping.InputAddress, isReady: false);

    public Task Completed(ReceiveEndpointCompleted completed) => Mark(completed.InputAddress, isReady: false);

    public Task Faulted(ReceiveEndpointFaulted faulted) => Mark(faulted.InputAddress, isReady: false);

    public Task PreReceive(ReceiveContext context)
    {
        if (Watched(context.InputAddress) is { } queue)
        {
            _inFlight.Started(context, queue, clock.GetUtcNow());
        }

        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context)
    {
        _inFlight.Ended(context);
        return Task.CompletedTask;
    }

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        _inFlight.Ended(context);
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_lost is { } lost
            ? HealthCheckResult.Unhealthy($"{lost.Why}; the service is restarting.")
            : HealthCheckResult.Healthy());

    /// <summary>The queue name of an endpoint address (rabbitmq://host:port/vhost/queue?options).</summary>
    public static string QueueName(Uri inputAddress) =>
        Uri.UnescapeDataString(inputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1]);

    /// <summary>One round of looks; the queue found lost or stuck, if any.</summary>
    public async Task<LostConsumer?> LookAsync(CancellationToken cancellationToken)
    {
        if (_inFlight.Longest(clock.GetUtcNow()) is { } longest && longest.For >= _consumeTimeout)
        {
            return new LostConsumer(longest.Queue,
                $"A message of queue {longest.Queue} has been in its handler for {longest.For.TotalSeconds:F0} s (the limit is {_consumeTimeout.TotalSeconds:F0} s): "
                + "it holds one of the endpoint's concurrency slots (a handler that waits for ever, as a publish on a channel that lost its confirmations does, would hold them all), and a new process has the broker hand it out again");
        }

        string[] queues;
        lock (_sync)
        {
            queues = [.. _liveness.ReadyQueues];
        }

        foreach (var queue in queues)
        {
            var state = await probe.ConsumersAsync(queue, cancellationToken).ConfigureAwait(false);
            bool lost;
            lock (_sync)
            {
                lost = _liveness.Observe(queue, state, clock.GetUtcNow());
            }

            if (lost)
            {
                return new LostConsumer(queue,
                    $"Queue {queue} has had no consumer for {_liveness.Grace.TotalSeconds:F0} s although the bus reports its endpoint ready (a connection the broker closed left this channel behind)");
            }
        }

        return null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (await LookAsync(stoppingToken).ConfigureAwait(false) is not { } lost)
                {
                    continue;
                }

                _lost = lost;
                logger.LogCritical(
                    "{Why}; stopping with exit code {ExitCode} so the supervisor starts the service again (queue {Queue})",
                    lost.Why, ExitCode, lost.Queue);
                Environment.ExitCode = ExitCode;
                lifetime.StopApplication();
                return;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (probe is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The bus's own reply endpoint is temporary (auto-deleted, declared when first used): not a
    /// consumer of the pipeline's messages, and its queue may not exist yet while it reports ready.
    /// </summary>
    public static bool IsTemporary(Uri inputAddress)
    {
        var query = inputAddress.Query.ToLowerInvariant();
        return query.Contains("temporary=true", StringComparison.Ordinal)
            || query.Contains("autodelete=true", StringComparison.Ordinal)
            || query.Contains("durable=false", StringComparison.Ordinal);
    }

    /// <summary>The queue of an endpoint the watchdog watches: the service's own, not temporary; else null.</summary>
    private string? Watched(Uri? inputAddress)
    {
        if (inputAddress is null || IsTemporary(inputAddress))
        {
            return null;
        }

        var queue = QueueName(inputAddress);
        return queue.StartsWith(queuePrefix, StringComparison.Ordinal) ? queue : null;
    }

    private Task Mark(Uri inputAddress, bool isReady)
    {
        if (Watched(inputAddress) is not { } queue)
        {
            return Task.CompletedTask;
        }
        lock (_sync)
        {
            if (isReady)
            {
                _liveness.Ready(queue, clock.GetUtcNow());
            }
            else
            {
                _liveness.NotReady(queue);
            }
        }

        return Task.CompletedTask;
    }
}

/// <summary>A queue the watchdog found without a working consumer, and why, in words for the log and the health check.</summary>
public sealed record LostConsumer(string Queue, string Why);
