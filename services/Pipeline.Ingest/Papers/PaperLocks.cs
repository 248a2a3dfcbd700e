namespace Pipeline.Ingest.Papers;

/// <summary>
/// One holder at a time per paper id, within this process, for reading what is held, merging,
/// storing, publishing and marking published: sources poll concurrently with SubmitPapers and
/// ImportPapers calls and with the sweep of unannounced papers, and without it two of them could
/// each merge into the same record they read and the later store would erase the other's (arXiv's
/// record, Hugging Face's upvotes), or announce an older record after a newer one. Ingest runs as
/// one instance (a fixed port, and source polls that must not run twice), so a lock in memory is
/// enough. Ids of one call are taken in ordinal order, so two calls never wait on each other.
/// </summary>
public sealed class PaperLocks
{
    private readonly Dictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    /// <summary>Waits until every id of <paramref name="ids"/> is free and holds them until the result is disposed.</summary>
    public async Task<IDisposable> HoldAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        var ordered = ids.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var held = new Held(this, ordered.Length);
        try
        {
            foreach (var id in ordered)
            {
                var gate = Enter(id);
                try
                {
                    await gate.Semaphore.WaitAsync(cancellationToken);
                }
                catch
                {
                    Leave(id, gate, release: false);
                    throw;
                }

                held.Add(id, gate);
            }
        }
        catch
        {
            held.Dispose();
            throw;
        }

        return held;
    }

    /// <summary>Ids held or waited for now (for tests: nothing is left behind).</summary>
    public int Count
    {
        get
        {
            lock (_gates)
            {
                return _gates.Count;
            }
        }
    }

    private Gate Enter(string id)
    {
        lock (_gates)
        {
            if (!_gates.TryGetValue(id, out var gate))
            {
                _gates[id] = gate = new Gate();
            }

            gate.Users++;
            return gate;
        }
    }

    private void Leave(string id, Gate gate, bool release)
    {
        if (release)
        {
            gate.Semaphore.Release();
        }

        lock (_gates)
        {
            if (--gate.Users == 0)
            {
                _gates.Remove(id);
                gate.Semaphore.Dispose();
            }
        }
    }

    private sealed class Gate
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        /// <summary>Holders and waiters; the gate is dropped when the last one leaves.</summary>
        public int Users { get; set; }
    }

    private sealed class Held(PaperLocks locks, int capacity) : IDisposable
    {
        private readonly List<(string Id, Gate Gate)> _held = new(capacity);

        public void Add(string id, Gate gate) => _held.Add((id, gate));

        public void Dispose()
        {
            for (var i = _held.Count - 1; i >= 0; i--)
            {
                locks.Leave(_held[i].Id, _held[i].Gate, release: true);
            }

            _held.Clear();
        }
    }
}
