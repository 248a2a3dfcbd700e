namespace Pipeline.Testing;

/// <summary>
/// A thread-safe, append-only list of what a sink received, which tests can wait on: until enough
/// items match, or until a quiet period passes with no new matching item.
/// </summary>
public sealed class ReceivedLog<T>
{
    private readonly List<T> _items = [];
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>How many items have arrived.</summary>
    public int Count
    {
        get
        {
            lock (_items)
            {
                return _items.Count;
            }
        }
    }

    /// <summary>A copy of everything received so far, in arrival order.</summary>
    public IReadOnlyList<T> Snapshot()
    {
        lock (_items)
        {
            return [.. _items];
        }
    }

    public void Add(T item) => AddRange([item]);

    public void AddRange(IEnumerable<T> items)
    {
        TaskCompletionSource changed;
        lock (_items)
        {
            _items.AddRange(items);
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }

    /// <summary>
    /// Removes and returns everything received so far, in arrival order, as one step: a long run
    /// (a load benchmark) can count what arrived without holding every item, and loses none.
    /// </summary>
    public IReadOnlyList<T> Drain()
    {
        lock (_items)
        {
            T[] all = [.. _items];
            _items.Clear();
            return all;
        }
    }

    /// <summary>Forgets everything received so far.</summary>
    public void Clear()
    {
        lock (_items)
        {
            _items.Clear();
        }
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> received items match <paramref name="predicate"/>
    /// and returns the matching items (all of them, in arrival order); throws a <see cref="TimeoutException"/>
    /// that lists what did arrive when <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<IReadOnlyList<T>> WaitForAsync(
        Func<T, bool> predicate,
        int count,
        TimeSpan timeout,
        Func<T, string> describe,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        while (true)
        {
            Task changed;
            List<T> matching;
            lock (_items)
            {
                matching = _items.Where(predicate).ToList();
                changed = _changed.Task;
            }

            if (matching.Count >= count)
            {
                return matching;
            }

            try
            {
                await changed.WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"Waited {timeout} for {count} matching {typeof(T).Name} item(s); {matching.Count} matched. Received {Count}:\n"
                    + string.Join('\n', Snapshot().Select(i => "  " + describe(i))));
            }
        }
    }

    /// <summary>
    /// Waits for <paramref name="quietPeriod"/> and throws an <see cref="InvalidOperationException"/>
    /// as soon as an item matching <paramref name="predicate"/> arrives after this call started.
    /// </summary>
    public async Task AssertNoMoreAsync(
        Func<T, bool> predicate,
        TimeSpan quietPeriod,
        Func<T, string> describe,
        CancellationToken cancellationToken = default)
    {
        int seen;
        lock (_items)
        {
            seen = _items.Count;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(quietPeriod);
        while (true)
        {
            Task changed;
            List<T> fresh;
            lock (_items)
            {
                fresh = _items.Skip(seen).Where(predicate).ToList();
                changed = _changed.Task;
            }

            if (fresh.Count > 0)
            {
                throw new InvalidOperationException(
                    $"Expected no more matching {typeof(T).Name} items for {quietPeriod}, but got {fresh.Count}:\n"
                    + string.Join('\n', fresh.Select(i => "  " + describe(i))));
            }

            try
            {
                await changed.WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
