using Microsoft.Extensions.Options;

namespace Pipeline.Ingest.Sources;

/// <summary>
/// Polls each enabled source at its own interval, measured from its last run as recorded in
/// Redis: a restart neither polls everything at once nor waits a whole interval again.
/// </summary>
public sealed class SourceScheduler(SourceRunner runner, IOptions<SourcesOptions> options, TimeProvider clock, ILogger<SourceScheduler> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.SchedulerEnabled)
        {
            return Task.CompletedTask;
        }

        return Task.WhenAll(runner.Sources.Where(s => s.Options.Enabled).Select(s => LoopAsync(s, stoppingToken)));
    }

    private async Task LoopAsync(IPaperSource source, CancellationToken stoppingToken)
    {
        var interval = source.Options.Interval > TimeSpan.Zero ? source.Options.Interval : TimeSpan.FromHours(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var state = await runner.StateAsync(source.Name);
                var due = state.LastRun is { } last ? last + interval : clock.GetUtcNow();
                var wait = due - clock.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, clock, stoppingToken);
                }

                await runner.RunAsync(source, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Redis unreachable and the like: the run could not even be recorded. Try again later.
                logger.LogWarning(e, "Scheduling {Source} failed; retrying in a minute", source.Name);
                try
                {
                    await Task.Delay(TimeSpan.FromMinutes(1), clock, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
