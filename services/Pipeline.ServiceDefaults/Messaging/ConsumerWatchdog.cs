using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>
/// Looks every <c>Bus:ConsumerWatchdog:IntervalSeconds</c> (10) at each queue whose endpoint the
/// bus reports ready and that the service's consumers read (named with the service's prefix, as
/// rank-paper-embedded; not the bus's own reply endpoint, which is declared when first used),
/// through a connection of its own. When a queue has had no consumer at every
/// look for <c>Bus:ConsumerWatchdog:GraceSeconds</c> (30) while the bus still calls its endpoint
/// ready (<see cref="ConsumerLiveness"/>), the service cannot recover in place: MassTransit does not
/// restart an endpoint it believes healthy. The watchdog then reports the check unhealthy and stops
/// the service with exit code <see cref="ExitCode"/>, and its supervisor starts it again (compose's
/// <c>restart: unless-stopped</c>, deploy/local's loop). Nothing is lost: unacknowledged messages
/// go back to their queues, and every consumer is idempotent.
/// </summary>
public sealed class ConsumerWatchdog(
    string queuePrefix,
    IQueueProbe probe,
    IHostApplicationLifetime lifetime,
    TimeProvider clock,
    IConfiguration configuration,
    ILogger<ConsumerWatchdog> logger) : BackgroundService, IReceiveEndpointObserver, IHealthCheck
{
    /// <summary>EX_TEMPFAIL: a temporary failure, start me again.</summary>
    public const int ExitCode = 75;

    private readonly object _sync = new();
    private readonly ConsumerLiveness _liveness = new(TimeSpan.FromSeconds(configuration.GetValue("Bus:ConsumerWatchdog:GraceSeconds", 30.0)));
    private readonly TimeSpan _interval = TimeSpan.FromSeconds(configuration.GetValue("Bus:ConsumerWatchdog:IntervalSeconds", 10.0));
    private volatile string? _lost;

    /// <summary>The queue whose consumer was found lost, if any.</summary>
    public string? LostQueue => _lost;

    public Task Ready(ReceiveEndpointReady ready) => Mark(ready.InputAddress, isReady: true);

    public Task Stopping(ReceiveEndpointStopping stopping) => Mark(stopping.InputAddress, isReady: false);

    public Task Completed(ReceiveEndpointCompleted completed) => Mark(completed.InputAddress, isReady: false);

    public Task Faulted(ReceiveEndpointFaulted faulted) => Mark(faulted.InputAddress, isReady: false);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_lost is { } queue
            ? HealthCheckResult.Unhealthy($"Queue {queue} has had no consumer for {_liveness.Grace.TotalSeconds:F0} s although its endpoint reports ready; the service is restarting.")
            : HealthCheckResult.Healthy());

    /// <summary>The queue name of an endpoint address (rabbitmq://host:port/vhost/queue?options).</summary>
    public static string QueueName(Uri inputAddress) =>
        Uri.UnescapeDataString(inputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1]);

    /// <summary>One round of looks; the queue found lost, if any.</summary>
    public async Task<string?> LookAsync(CancellationToken cancellationToken)
    {
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
                return queue;
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
                if (await LookAsync(stoppingToken).ConfigureAwait(false) is not { } queue)
                {
                    continue;
                }

                _lost = queue;
                logger.LogCritical(
                    "Queue {Queue} has had no consumer for {Grace} s although the bus reports its endpoint ready (a connection the broker closed left this channel behind); stopping with exit code {ExitCode} so the supervisor starts the service again",
                    queue, _liveness.Grace.TotalSeconds, ExitCode);
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

    private Task Mark(Uri inputAddress, bool isReady)
    {
        var queue = QueueName(inputAddress);
        if (IsTemporary(inputAddress) || !queue.StartsWith(queuePrefix, StringComparison.Ordinal))
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
