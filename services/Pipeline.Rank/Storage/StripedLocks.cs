namespace Pipeline.Rank.Storage;

/// <summary>
/// A fixed set of locks picked by a key's hash, for a change written to rank's Redis and then
/// applied in memory: two changes of one key (a subscriber; one voter's vote on one paper) take the
/// same lock, so memory applies them in the order Redis did. Changes of other keys share a lock
/// only when their hashes meet, and nothing is made per key. They are held across a Redis round
/// trip, so they are semaphores: a change waiting for one holds no thread.
/// </summary>
public sealed class StripedLocks
{
    private readonly SemaphoreSlim[] _locks;

    public StripedLocks(int stripes = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stripes, 1);
        _locks = new SemaphoreSlim[stripes];
        for (var i = 0; i < stripes; i++)
        {
            _locks[i] = new SemaphoreSlim(1, 1);
        }
    }

    /// <summary>Waits for the lock of <paramref name="hash"/> (the key's hash code); disposing the answer releases it.</summary>
    public async ValueTask<Held> EnterAsync(int hash, CancellationToken cancellationToken)
    {
        var gate = _locks[(uint)hash % (uint)_locks.Length];
        await gate.WaitAsync(cancellationToken);
        return new Held(gate);
    }

    /// <summary>A lock taken by <see cref="EnterAsync"/>.</summary>
    public readonly struct Held(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }
}
