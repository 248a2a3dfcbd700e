namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>What the broker says of one queue when asked.</summary>
public enum QueueConsumers
{
    /// <summary>The broker could not be asked (it is down, or the probe's connection failed).</summary>
    Unknown,

    /// <summary>The queue has at least one consumer.</summary>
    Consumed,

    /// <summary>The queue exists and nobody consumes it.</summary>
    NoConsumer,

    /// <summary>The queue does not exist.</summary>
    Missing,
}

/// <summary>
/// Decides when a receive endpoint that the bus reports ready has in fact lost its consumer: the
/// broker has said "no consumer" (or "no such queue") at every look for <see cref="Grace"/>,
/// while the bus kept reporting the endpoint ready all that time. An endpoint the bus reports
/// faulted, stopping or reconnecting is the bus's own business and never counts; nor does a look
/// that could not reach the broker (a restart helps nothing while the broker is down).
/// </summary>
/// <remarks>
/// This covers a fault of the RabbitMQ client under MassTransit seen in the fault tests: when the
/// broker shuts a connection while a consumer on it is mid-message, the connection's other channels
/// may never hear of the shutdown, so their endpoints stay "ready" on channels that no longer exist
/// and the queues fill up with nobody reading them. Not thread-safe: one watchdog loop owns it.
/// </remarks>
public sealed class ConsumerLiveness(TimeSpan grace)
{
    private readonly Dictionary<string, DateTimeOffset> _readySince = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _unconsumedSince = new(StringComparer.Ordinal);

    public TimeSpan Grace { get; } = grace > TimeSpan.Zero ? grace : throw new ArgumentOutOfRangeException(nameof(grace), "The grace period must be positive.");

    /// <summary>The queues the bus reports ready now.</summary>
    public IReadOnlyCollection<string> ReadyQueues => _readySince.Keys;

    /// <summary>The bus reported the endpoint of <paramref name="queue"/> ready (consuming).</summary>
    public void Ready(string queue, DateTimeOffset at)
    {
        _readySince[queue] = at;
        _unconsumedSince.Remove(queue);
    }

    /// <summary>The bus reported the endpoint stopping, completed or faulted: it is recovering by itself.</summary>
    public void NotReady(string queue)
    {
        _readySince.Remove(queue);
        _unconsumedSince.Remove(queue);
    }

    /// <summary>
    /// Records what the broker said of <paramref name="queue"/> at <paramref name="at"/>; true when
    /// the queue's consumer is lost: ready in the bus's view, and unconsumed at every look for the
    /// grace period.
    /// </summary>
    public bool Observe(string queue, QueueConsumers state, DateTimeOffset at)
    {
        if (!_readySince.TryGetValue(queue, out var readySince))
        {
            return false;
        }

        switch (state)
        {
            case QueueConsumers.NoConsumer or QueueConsumers.Missing:
                if (!_unconsumedSince.TryGetValue(queue, out var since))
                {
                    // The first look that finds no consumer starts the clock, but never before the
                    // bus said the endpoint was ready: a consumer that just (re)started may not be
                    // registered with the broker yet.
                    since = at > readySince ? at : readySince;
                    _unconsumedSince[queue] = since;
                }

                return at - since >= Grace;
            case QueueConsumers.Consumed:
                _unconsumedSince.Remove(queue);
                return false;
            default:
                // Unknown: the broker is out of reach; the looks start over once it answers.
                _unconsumedSince.Remove(queue);
                return false;
        }
    }
}
