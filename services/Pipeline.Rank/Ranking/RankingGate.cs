namespace Pipeline.Rank.Ranking;

/// <summary>
/// Admits at most <see cref="Slots"/> ranking computations (Search, Recommend, Similar) at once and
/// queues the rest in arrival order, without holding a thread while they wait. Ranking is pure CPU
/// work: with more computations running than cores, none finishes sooner, each holds its scratch
/// memory (a lexical search rents 20 bytes a paper, 2 MB at 100,000) and the last to be scheduled
/// waits longest. One per core (<c>Ranking:ConcurrentRankings</c> overrides it).
/// </summary>
public sealed class RankingGate
{
    private readonly SemaphoreSlim _slots;

    public RankingGate(IConfiguration configuration)
        : this(configuration.GetValue("Ranking:ConcurrentRankings", Environment.ProcessorCount))
    {
    }

    public RankingGate(int slots)
    {
        Slots = Math.Max(1, slots);
        _slots = new SemaphoreSlim(Slots, Slots);
    }

    public int Slots { get; }

    /// <summary>Runs <paramref name="work"/> when a slot is free; a caller that gives up while waiting leaves the queue.</summary>
    public async Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            return work();
        }
        finally
        {
            _slots.Release();
        }
    }
}
