using System.Collections.Concurrent;

namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>
/// The messages a service is handling now, each with its queue and since when: the bus tells of
/// every received message once before it is handled and once after (handled or faulted), and a
/// message that is never told of again is stuck in a handler. Thread-safe: the bus reports from
/// many deliveries at once while the watchdog reads.
/// </summary>
public sealed class InFlightReceives
{
    private readonly ConcurrentDictionary<object, (string Queue, DateTimeOffset Since)> _receives = new(ReferenceEqualityComparer.Instance);

    /// <summary>How many messages are being handled now.</summary>
    public int Count => _receives.Count;

    /// <summary>A message of <paramref name="queue"/> is being handled from <paramref name="at"/>.</summary>
    public void Started(object receive, string queue, DateTimeOffset at) => _receives[receive] = (queue, at);

    /// <summary>A message is done with, handled or faulted (told twice, the second is nothing).</summary>
    public void Ended(object receive) => _receives.TryRemove(receive, out _);

    /// <summary>The message handled the longest at <paramref name="now"/>: its queue and for how long; null when none is.</summary>
    public (string Queue, TimeSpan For)? Longest(DateTimeOffset now)
    {
        (string Queue, DateTimeOffset Since)? oldest = null;
        foreach (var (_, receive) in _receives)
        {
            if (oldest is null || receive.Since < oldest.Value.Since)
            {
                oldest = receive;
            }
        }

        return oldest is { } o ? (o.Queue, now - o.Since) : null;
    }
}
