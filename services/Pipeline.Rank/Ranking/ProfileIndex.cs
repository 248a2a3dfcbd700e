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

/// <summary>
/// Every active subscriber's profile, in memory; rebuilt from rank's Redis at start. Interest
/// vectors are kept in half precision (<see cref="HalfVectors"/>): a profile read back hands out
/// fp32 copies of them.
/// </summary>
public sealed class ProfileIndex
{
    private readonly Lock _lock = new();
    private Dictionary<string, SubscriberProfile> _profiles = new(StringComparer.Ordinal);
    private InstantProfileMatrix? _matrix;

    public int Count => _profiles.Count;

    public SubscriberProfile? Get(string subscriberId) =>
        _profiles.GetValueOrDefault(subscriberId);

    /// <summary>Readers get a snapshot; writers copy, so a scan never sees a half-made change.</summary>
    public IReadOnlyCollection<SubscriberProfile> All => _profiles.Values;

    /// <summary>
    /// Adds or replaces a subscriber's profile, unless the one held changed later
    /// (<see cref="SubscriberProfile.ChangedAt"/>; an equal one is replaced).
    /// </summary>
    /// <returns>False when a later profile was kept.</returns>
    public bool Upsert(SubscriberProfile profile)
    {
        profile = Compact(profile);
        lock (_lock)
        {
            if (_profiles.TryGetValue(profile.SubscriberId, out var held) && held.ChangedAt > profile.ChangedAt)
            {
                return false;
            }

            _profiles = new Dictionary<string, SubscriberProfile>(_profiles, StringComparer.Ordinal) { [profile.SubscriberId] = profile };
            return true;
        }
    }

    /// <summary>Many profiles in one copy: loading 10,000 one by one would copy the dictionary 10,000 times.</summary>
    public void UpsertMany(IEnumerable<SubscriberProfile> profiles)
    {
        lock (_lock)
        {
            var copy = new Dictionary<string, SubscriberProfile>(_profiles, StringComparer.Ordinal);
            foreach (var profile in profiles)
            {
                copy[profile.SubscriberId] = Compact(profile);
            }

            _profiles = copy;
        }
    }

    /// <summary>The index keeps interest vectors in half precision (<see cref="HalfVectors"/>).</summary>
    private static SubscriberProfile Compact(SubscriberProfile profile) =>
        profile.Vectors is HalfVectors ? profile : profile with { Vectors = HalfVectors.Of(profile.Vectors) };

    /// <summary>
    /// Forgets a subscriber's profile; with <paramref name="changedAt"/> (an unsubscribe's time),
    /// not one that changed later.
    /// </summary>
    public void Remove(string subscriberId, DateTimeOffset? changedAt = null)
    {
        lock (_lock)
        {
            if (!_profiles.TryGetValue(subscriberId, out var held) || held.ChangedAt > changedAt)
            {
                return;
            }

            var copy = new Dictionary<string, SubscriberProfile>(_profiles, StringComparer.Ordinal);
            copy.Remove(subscriberId);
            _profiles = copy;
        }
    }

    /// <summary>
    /// The interest vectors of every instant-alert profile stacked into one matrix, for the current
    /// set of profiles. Built on first use after a change (profiles change far less often than
    /// papers arrive), so the writers above stay cheap.
    /// </summary>
    internal InstantProfileMatrix InstantMatrix()
    {
        var profiles = _profiles;
        var matrix = _matrix;
        if (matrix is not null && ReferenceEquals(matrix.Source, profiles))
        {
            return matrix;
        }

        lock (_lock)
        {
            if (_matrix is null || !ReferenceEquals(_matrix.Source, _profiles))
            {
                _matrix = InstantProfileMatrix.Build(_profiles);
            }

            return _matrix;
        }
    }
}

/// <summary>
/// All interest vectors of instant-alert profiles as contiguous int8 rows (a scale each); a
/// profile's rows are adjacent (<see cref="FirstRow"/>). int8 is a quarter of the memory and of
/// the bytes read per match; the matcher re-checks in fp32 every profile that the quantization
/// error could put over its threshold, so the answer is exact.
/// </summary>
internal sealed class InstantProfileMatrix
{
    private InstantProfileMatrix(object source, VectorRows rows, SubscriberProfile[] profiles, int[] firstRow, float[] thresholds, InterestWords words)
    {
        Source = source;
        Rows = rows;
        Profiles = profiles;
        FirstRow = firstRow;
        Thresholds = thresholds;
        Words = words;
        Numbers = profiles.Select((p, i) => (p.SubscriberId, i)).ToDictionary(x => x.SubscriberId, x => x.i, StringComparer.Ordinal);
    }

    /// <summary>Subscriber id → the profile's number in <see cref="Profiles"/>.</summary>
    public IReadOnlyDictionary<string, int> Numbers { get; }

    /// <summary>The profile dictionary this was built from.</summary>
    public object Source { get; }

    public VectorRows Rows { get; }

    public SubscriberProfile[] Profiles { get; }

    /// <summary>Profile p owns rows FirstRow[p] to FirstRow[p + 1] - 1 (one more entry than profiles).</summary>
    public int[] FirstRow { get; }

    public float[] Thresholds { get; }

    /// <summary>The words of every row's interest, to find the interests a paper's text contains.</summary>
    public InterestWords Words { get; }

    public int RowCount => FirstRow[^1];

    /// <summary>The profile that owns row <paramref name="row"/> (every profile has at least one row).</summary>
    public int ProfileOfRow(int row)
    {
        var found = Array.BinarySearch(FirstRow, row);
        return found >= 0 ? found : ~found - 1;
    }

    public static InstantProfileMatrix Build(Dictionary<string, SubscriberProfile> source)
    {
        var profiles = source.Values
            .Where(p => p.WantsInstantAlerts && p.Vectors.Count > 0 && p.Vectors.All(v => v.Length == PaperIndex.Dimensions))
            .ToArray();
        var firstRow = new int[profiles.Length + 1];
        var thresholds = new float[profiles.Length];
        for (var p = 0; p < profiles.Length; p++)
        {
            firstRow[p + 1] = firstRow[p] + profiles[p].Vectors.Count;
            thresholds[p] = (float)profiles[p].InstantThreshold;
        }

        var rows = new VectorRows(PaperIndex.Dimensions, VectorPrecision.Int8, firstRow[^1]);
        var interests = new string[firstRow[^1]];
        for (var p = 0; p < profiles.Length; p++)
        {
            for (var v = 0; v < profiles[p].Vectors.Count; v++)
            {
                rows.Set(firstRow[p] + v, profiles[p].Vectors[v]);
                interests[firstRow[p] + v] = v < profiles[p].Interests.Count ? profiles[p].Interests[v] : "";
            }
        }

        return new InstantProfileMatrix(source, rows, profiles, firstRow, thresholds, InterestWords.Build(interests));
    }
}
