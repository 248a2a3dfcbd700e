using MassTransit;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>
/// Bus calls with an end: MassTransit's StopAsync and Publish have none of their own, and a bus on a
/// connection the broker dropped can wait in them forever (see ConsumerWatchdogTests).
/// </summary>
public static class Bounded
{
    public static readonly TimeSpan BusCall = TimeSpan.FromSeconds(60);

    /// <summary>Stops the bus, giving up after <paramref name="timeout"/> (60 s): a test's cleanup must end.</summary>
    public static async Task StopBoundedAsync(this IBusControl bus, TimeSpan? timeout = null)
    {
        using var stop = new CancellationTokenSource(timeout ?? BusCall);
        try
        {
            await bus.StopAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Endpoints on dead channels may never stop; the test process ends them.
        }
    }

    /// <summary>Publishes and waits for the broker's confirm for at most <paramref name="timeout"/> (60 s), else throws.</summary>
    public static async Task PublishBoundedAsync<T>(this IPublishEndpoint bus, T message, TimeSpan? timeout = null)
        where T : class
    {
        using var publish = new CancellationTokenSource(timeout ?? BusCall);
        await bus.Publish(message, publish.Token);
    }

    /// <summary>A token that ends after <paramref name="timeout"/> (60 s), for broker calls that take one.</summary>
    public static CancellationToken Within(TimeSpan? timeout = null) => new CancellationTokenSource(timeout ?? BusCall).Token;
}
