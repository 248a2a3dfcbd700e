using Microsoft.Extensions.Options;
using Pipeline.Ingest.Storage;

namespace Pipeline.Ingest.Papers;

/// <summary><c>Republish</c> in configuration: how often and how the sweep of unannounced papers runs.</summary>
public sealed class RepublishOptions
{
    /// <summary>Time between two sweeps; the first runs at start.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Papers per publish (one batch of events, confirmed as a whole).</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>
    /// How long a paper must have waited unannounced before the sweep announces it: longer than
    /// <c>Bus:PublishTimeoutSeconds</c>, so a call still publishing its papers is left to finish.
    /// </summary>
    public TimeSpan MinAge { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Announces papers that were stored but whose <c>PaperIngested</c> the broker never confirmed (it
/// was down longer than a source's listing lasts, the process died between storing and
/// publishing), so none stays stored and unannounced for ever. At start it lists the papers stored
/// unpublished before <c>ingest:unpublished</c> existed; then every <see cref="RepublishOptions.Interval"/>
/// it announces what waited longer than <see cref="RepublishOptions.MinAge"/>. A broker or Redis
/// that is down costs a warning in the log and a try at the next sweep, never the loop.
/// </summary>
public sealed class UnpublishedPaperSweeper(
    PaperIntake intake,
    PaperStore store,
    IOptions<RepublishOptions> options,
    TimeProvider clock,
    ILogger<UnpublishedPaperSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var interval = o.Interval > TimeSpan.Zero ? o.Interval : TimeSpan.FromSeconds(30);
        var listed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!listed)
                {
                    var found = await store.ListUnpublishedAsync();
                    listed = true;
                    if (found > 0)
                    {
                        logger.LogInformation("Found {Count} papers stored unpublished before this version kept a list of them", found);
                    }
                }

                var announced = await intake.RepublishAsync(clock.GetUtcNow() - o.MinAge, o.BatchSize, stoppingToken);
                if (announced > 0)
                {
                    logger.LogInformation("Announced {Count} stored papers whose events the broker had not confirmed", announced);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var waiting = await CountQuietlyAsync();
                logger.LogWarning(e, "Announcing stored unpublished papers ({Waiting} waiting) failed; trying again in {Interval}", waiting?.ToString() ?? "unknown", interval);
            }

            try
            {
                await Task.Delay(interval, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<long?> CountQuietlyAsync()
    {
        try
        {
            return await store.CountUnpublishedAsync();
        }
        catch (Exception)
        {
            return null; // Redis is what is down
        }
    }
}
