namespace Pipeline.Rank.Ranking;

/// <summary>A subscriber's interests as vectors: one per free-text interest.</summary>
public sealed record SubscriberProfile(
    string SubscriberId,
    IReadOnlyList<string> Interests,
    IReadOnlyList<float[]> Vectors,
    string Cadence,
    double InstantThreshold,
    DateTimeOffset ChangedAt)
{
    public bool WantsInstantAlerts => string.Equals(Cadence, "instant", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Every active subscriber's profile, in memory; rebuilt from rank's Redis at start.</summary>
public sealed class ProfileIndex
{
    private readonly Lock _lock = new();
    private Dictionary<string, SubscriberProfile> _profiles = new(StringComparer.Ordinal);

    public int Count => _profiles.Count;

    public SubscriberProfile? Get(string subscriberId) =>
        _profiles.GetValueOrDefault(subscriberId);

    /// <summary>Readers get a snapshot; writers copy, so a scan never sees a half-made change.</summary>
    public IReadOnlyCollection<SubscriberProfile> All => _profiles.Values;

    public void Upsert(SubscriberProfile profile)
    {
        lock (_lock)
        {
            _profiles = new Dictionary<string, SubscriberProfile>(_profiles, StringComparer.Ordinal) { [profile.SubscriberId] = profile };
        }
    }

    public void Remove(string subscriberId)
    {
        lock (_lock)
        {
            var copy = new Dictionary<string, SubscriberProfile>(_profiles, StringComparer.Ordinal);
            copy.Remove(subscriberId);
            _profiles = copy;
        }
    }
}
