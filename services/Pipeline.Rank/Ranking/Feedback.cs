using System.Collections.Concurrent;

namespace Pipeline.Rank.Ranking;

/// <summary>What a subscriber said about themselves beyond free-text interests.</summary>
public sealed record ProfilePreferences(IReadOnlyList<string> SeedPaperIds, IReadOnlyList<string> Authors, IReadOnlyList<string> Categories)
{
    public static readonly ProfilePreferences None = new([], [], []);
}

/// <summary>
/// Votes, what each subscriber was already sent, and profile preferences: in memory for scoring,
/// persisted by <see cref="Storage.FeedbackStore"/>.
/// </summary>
public sealed class Feedback
{
    // net votes (up minus down) by paper number (PaperOrdinals): 4 bytes a paper rank has met, read
    // without hashing an id (a dictionary keyed by id took about 55 bytes a voted paper). Written
    // and grown under _totalsLock only; readers see the array before or after a growth, which holds
    // every total written before it.
    private volatile int[] _totals = [];
    // up votes cast (not net) by paper number, grown with _totals: a paper whose down votes cancel
    // its up votes has been voted on, which its net total alone cannot tell ("no net upvotes").
    private volatile int[] _ups = [];
    private readonly Lock _totalsLock = new();
    // voter -> the papers they voted on and how (a voter's one vote per paper, and their profile's
    // likes and dislikes), packed: 4 bytes a vote (docs/benchmarks.md, "Votes, packed")
    private readonly ConcurrentDictionary<string, Opinions> _opinions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SentPapers> _sent = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ProfilePreferences> _preferences = new(StringComparer.Ordinal);
    // surname -> subscriber -> the names they follow with that surname (for instant alerts); changed under its own lock with _preferences
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, AuthorName[]>> _followers = new(StringComparer.Ordinal);
    private long _version;
    private long _sentChanges;

    /// <summary>Goes up with every vote that changes a total (answers cached on votes compare it).</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>False until the first vote (then a paper's votes are worth looking up).</summary>
    public bool AnyVotes => _totals.Length > 0;

    /// <summary>Net votes of a paper (up minus down).</summary>
    public int Votes(string paperId) => PaperOrdinals.TryGet(paperId, out var ordinal) ? Votes(ordinal) : 0;

    /// <summary>Net votes of the paper numbered <paramref name="ordinal"/> (<see cref="PaperOrdinals"/>, <see cref="IndexedPaper.Ordinal"/>).</summary>
    public int Votes(int ordinal)
    {
        var totals = _totals;
        return (uint)ordinal < (uint)totals.Length ? Volatile.Read(ref totals[ordinal]) : 0;
    }

    /// <summary>Up votes cast on the paper numbered <paramref name="ordinal"/>, whatever the down votes.</summary>
    public int UpVotes(int ordinal)
    {
        var ups = _ups;
        return (uint)ordinal < (uint)ups.Length ? Volatile.Read(ref ups[ordinal]) : 0;
    }

    /// <summary>Records a vote; 0 withdraws. Returns false when it changes nothing (the same vote again).</summary>
    public bool Vote(string paperId, string voterId, int value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, -1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1);
        var ordinal = PaperOrdinals.Of(paperId);
        var opinions = _opinions.GetOrAdd(voterId, _ => new Opinions());
        lock (opinions)
        {
            var previous = opinions.Of(ordinal);
            if (previous == value)
            {
                return false;
            }

            opinions.Set(ordinal, value);
            AddToTotal(ordinal, value - previous, (value == 1 ? 1 : 0) - (previous == 1 ? 1 : 0));
            Interlocked.Increment(ref _version);
            return true;
        }
    }

    private void AddToTotal(int ordinal, int change, int upChange)
    {
        lock (_totalsLock)
        {
            var (totals, ups) = (_totals, _ups);
            if (ordinal >= totals.Length)
            {
                // Room for the papers numbered so far and an eighth more, so growing is rare.
                var size = Math.Max(ordinal + 1, PaperOrdinals.Count + (PaperOrdinals.Count / 8));
                var grown = new int[size];
                totals.CopyTo(grown, 0);
                var grownUps = new int[size];
                ups.CopyTo(grownUps, 0);
                _ups = ups = grownUps;
                _totals = totals = grown;
            }

            totals[ordinal] += change;
            ups[ordinal] += upChange;
        }
    }

    /// <summary>The ids of the papers a voter liked (+1) and disliked (-1): <see cref="OpinionNumbersOf"/> as ids.</summary>
    public (IReadOnlyList<string> Liked, IReadOnlyList<string> Disliked) OpinionsOf(string voterId)
    {
        var (liked, disliked) = OpinionNumbersOf(voterId);
        return (liked.Select(PaperOrdinals.IdOf).ToArray(), disliked.Select(PaperOrdinals.IdOf).ToArray());
    }

    /// <summary>
    /// The numbers (<see cref="PaperOrdinals"/>) of the papers a voter liked (+1) and disliked
    /// (-1), in number order: what a Recommend reads, without turning them into ids and back.
    /// </summary>
    public (int[] Liked, int[] Disliked) OpinionNumbersOf(string voterId)
    {
        if (!_opinions.TryGetValue(voterId, out var opinions))
        {
            return ([], []);
        }

        var entries = opinions.Entries;
        var likes = 0;
        foreach (var entry in entries)
        {
            likes += Opinions.ValueOf(entry) > 0 ? 1 : 0;
        }

        var (liked, disliked) = (new int[likes], new int[entries.Length - likes]);
        var (l, d) = (0, 0);
        foreach (var entry in entries)
        {
            if (Opinions.ValueOf(entry) > 0)
            {
                liked[l++] = Opinions.OrdinalOf(entry);
            }
            else
            {
                disliked[d++] = Opinions.OrdinalOf(entry);
            }
        }

        return (liked, disliked);
    }

    /// <summary>The vote <paramref name="voterId"/> gave paper <paramref name="ordinal"/>: +1, -1, or 0 for none.</summary>
    public int OpinionOf(string voterId, int ordinal) => _opinions.TryGetValue(voterId, out var opinions) ? opinions.Of(ordinal) : 0;

    /// <summary>Votes held, summed over voters.</summary>
    public long VoteCount => _opinions.Values.Sum(o => (long)o.Entries.Length);

    public void MarkSent(string subscriberId, IEnumerable<string> paperIds)
    {
        _sent.GetOrAdd(subscriberId, _ => new SentPapers()).Add(paperIds);
        Interlocked.Increment(ref _sentChanges);
    }

    /// <summary>Marks papers sent by their <see cref="PaperOrdinals"/> numbers (as the history load reads them).</summary>
    public void MarkSent(string subscriberId, ReadOnlySpan<int> paperOrdinals)
    {
        _sent.GetOrAdd(subscriberId, _ => new SentPapers()).Add(paperOrdinals);
        Interlocked.Increment(ref _sentChanges);
    }

    /// <summary>Goes up with every history marked sent (the warm-up of kept rankings waits for it to be quiet).</summary>
    public long SentChanges => Interlocked.Read(ref _sentChanges);

    /// <summary>Papers sent, summed over subscribers.</summary>
    public long SentPaperCount => _sent.Values.Sum(s => (long)s.Count);

    /// <summary>What the subscriber was already sent (a live view; null when nothing), so a filter looks the subscriber up once.</summary>
    public SentPapers? SentTo(string subscriberId) =>
        _sent.TryGetValue(subscriberId, out var sent) && sent.Count > 0 ? sent : null;

    public bool WasSent(string subscriberId, string paperId) =>
        _sent.TryGetValue(subscriberId, out var sent) && PaperOrdinals.TryGet(paperId, out var ordinal) && sent.Contains(ordinal);

    public ProfilePreferences PreferencesOf(string subscriberId) => _preferences.GetValueOrDefault(subscriberId, ProfilePreferences.None);

    public void SetPreferences(string subscriberId, ProfilePreferences preferences)
    {
        lock (_followers)
        {
            Unfollow(subscriberId);
            _preferences[subscriberId] = preferences;
            foreach (var bySurname in Names(preferences).GroupBy(n => n.Surname))
            {
                _followers.GetOrAdd(bySurname.Key, _ => new(StringComparer.Ordinal))[subscriberId] = bySurname.ToArray();
            }
        }
    }

    /// <summary>False until some subscriber follows an author (then a new paper's authors are worth looking up).</summary>
    public bool AnyFollowed => !_followers.IsEmpty;

    /// <summary>
    /// The subscribers who follow <paramref name="author"/>, a paper's author as written: one of
    /// their followed names is the same author by <see cref="AuthorName.Matches"/> ("Grace Hopper"
    /// is followed by whoever follows "G. Hopper", "Hopper, Grace" or "grace hopper").
    /// </summary>
    public IEnumerable<string> FollowersOf(string author)
    {
        // The surname first, folded without allocating: most authors of most papers are followed by nobody.
        Span<char> buffer = author.Length <= 256 ? stackalloc char[2 * author.Length] : new char[2 * author.Length];
        var length = AuthorName.SurnameOf(author, buffer);
        if (length == 0 || !_followers.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(buffer[..length], out var followers))
        {
            return [];
        }

        var name = AuthorName.Parse(author);
        return followers.Where(f => Array.Exists(f.Value, followed => followed.Matches(name))).Select(f => f.Key);
    }

    public void Forget(string subscriberId)
    {
        lock (_followers)
        {
            Unfollow(subscriberId);
            _preferences.TryRemove(subscriberId, out _);
        }

        _sent.TryRemove(subscriberId, out _);
    }

    private void Unfollow(string subscriberId)
    {
        if (!_preferences.TryGetValue(subscriberId, out var previous))
        {
            return;
        }

        foreach (var surname in Names(previous).Select(n => n.Surname).Distinct())
        {
            if (_followers.TryGetValue(surname, out var followers) && followers.TryRemove(subscriberId, out _) && followers.IsEmpty)
            {
                _followers.TryRemove(surname, out _);
            }
        }
    }

    private static IEnumerable<AuthorName> Names(ProfilePreferences preferences) =>
        preferences.Authors.Select(AuthorName.Parse).Where(n => !n.IsEmpty);
}

/// <summary>
/// The papers one subscriber was sent, by <see cref="PaperOrdinals"/>, packed as a roaring
/// bitmap packs a sparse set: numbers grouped by their high 16 bits, each group's low 16 bits a
/// sorted <c>ushort</c> run. 2 bytes a paper (10,000 subscribers sent two months of daily digests
/// are 6 million papers: 12 MB, not 24), and a lookup is a binary search among a few groups
/// (one per 65,536 papers rank has met) and then in one run. Papers arrive a digest at a time, so
/// an addition builds the set anew (under a lock); readers see the old set or the new one, never
/// one half made.
/// </summary>
public sealed class SentPapers
{
    private readonly Lock _adding = new();
    private volatile Packed _packed = Packed.Empty;

    public int Count => _packed.Lows.Length;

    public bool Contains(int ordinal) => _packed.Contains(ordinal);

    public bool Contains(IndexedPaper paper) => Contains(paper.Ordinal);

    /// <summary>The highest paper number in the set, or -1 when it is empty.</summary>
    public int Highest => _packed.Highest;

    /// <summary>
    /// Sets the bit of every paper in the set in a bitmap by number (bit n % 64 of word n / 64,
    /// sized by <see cref="Highest"/>; papers added since that are beyond it are skipped) and answers
    /// how many of them were not set before.
    /// </summary>
    public int SetBits(Span<ulong> bits) => _packed.SetBits(bits);

    public void Add(IEnumerable<string> paperIds) => Add(paperIds.Select(PaperOrdinals.Of).ToArray());

    /// <summary>Adds papers by their <see cref="PaperOrdinals"/> numbers (non-negative; repeats are kept once).</summary>
    public void Add(ReadOnlySpan<int> added)
    {
        if (added.IsEmpty)
        {
            return;
        }

        lock (_adding)
        {
            var packed = _packed;
            var merged = new int[packed.Lows.Length + added.Length];
            packed.CopyTo(merged);
            added.CopyTo(merged.AsSpan(packed.Lows.Length));
            Array.Sort(merged);
            var distinct = 0;
            for (var i = 0; i < merged.Length; i++)
            {
                if (i == 0 || merged[i] != merged[distinct - 1])
                {
                    merged[distinct++] = merged[i];
                }
            }

            _packed = Packed.Of(merged.AsSpan(0, distinct));
        }
    }

    /// <summary>
    /// Sorted distinct numbers: <see cref="Highs"/>[g] is group g's high 16 bits, and its low 16
    /// bits are <see cref="Lows"/>[<see cref="Starts"/>[g] .. <see cref="Starts"/>[g + 1]).
    /// </summary>
    private sealed class Packed(int[] highs, int[] starts, ushort[] lows)
    {
        public static readonly Packed Empty = new([], [0], []);

        public int[] Highs { get; } = highs;

        public int[] Starts { get; } = starts;

        public ushort[] Lows { get; } = lows;

        public static Packed Of(ReadOnlySpan<int> sorted)
        {
            var groups = 0;
            for (var i = 0; i < sorted.Length; i++)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(sorted[i]);
                groups += i == 0 || (sorted[i] >>> 16) != (sorted[i - 1] >>> 16) ? 1 : 0;
            }

            var highs = new int[groups];
            var starts = new int[groups + 1];
            var lows = new ushort[sorted.Length];
            var g = -1;
            for (var i = 0; i < sorted.Length; i++)
            {
                if (g < 0 || (sorted[i] >>> 16) != highs[g])
                {
                    highs[++g] = sorted[i] >>> 16;
                    starts[g] = i;
                }

                lows[i] = (ushort)sorted[i];
            }

            starts[groups] = sorted.Length;
            return new Packed(highs, starts, lows);
        }

        public int Highest => Highs.Length == 0 ? -1 : (Highs[^1] << 16) | Lows[^1];

        public int SetBits(Span<ulong> bits)
        {
            var added = 0;
            for (var g = 0; g < Highs.Length; g++)
            {
                var high = Highs[g] << 16;
                foreach (var low in Lows.AsSpan(Starts[g], Starts[g + 1] - Starts[g]))
                {
                    var ordinal = high | low;
                    if ((ordinal >> 6) >= bits.Length)
                    {
                        // Added after the bitmap was sized (numbers are sorted: so are the rest).
                        return added;
                    }

                    added += LeftOut.SetBit(bits, ordinal);
                }
            }

            return added;
        }

        public bool Contains(int ordinal)
        {
            var g = Array.BinarySearch(Highs, ordinal >>> 16);
            return g >= 0 && Lows.AsSpan(Starts[g], Starts[g + 1] - Starts[g]).BinarySearch((ushort)ordinal) >= 0;
        }

        public void CopyTo(Span<int> into)
        {
            for (var g = 0; g < Highs.Length; g++)
            {
                for (var i = Starts[g]; i < Starts[g + 1]; i++)
                {
                    into[i] = (Highs[g] << 16) | Lows[i];
                }
            }
        }
    }
}

/// <summary>
/// One voter's votes: a sorted array of <c>paper number &lt;&lt; 1 | up</c> (4 bytes a vote; a
/// dictionary per voter and per paper took about 375 bytes a vote: 75 MB for 200,000 votes).
/// Changed under the owner's lock by building a new array; readers see the old one or the new one.
/// </summary>
internal sealed class Opinions
{
    private volatile int[] _entries = [];

    public int[] Entries => _entries;

    public static int OrdinalOf(int entry) => entry >>> 1;

    public static int ValueOf(int entry) => (entry & 1) == 1 ? 1 : -1;

    /// <summary>The vote on paper <paramref name="ordinal"/>: +1, -1, or 0 for none.</summary>
    public int Of(int ordinal)
    {
        var entries = _entries;
        var at = Array.BinarySearch(entries, ordinal << 1);
        if (at >= 0)
        {
            return -1;
        }

        at = ~at;
        return at < entries.Length && entries[at] == ((ordinal << 1) | 1) ? 1 : 0;
    }

    /// <summary>Sets the vote on paper <paramref name="ordinal"/> (0 removes it). Caller holds the owner's lock.</summary>
    public void Set(int ordinal, int value)
    {
        var entries = _entries;
        var down = ordinal << 1;
        var at = Array.BinarySearch(entries, down);
        var found = at >= 0 || (~at < entries.Length && entries[~at] == (down | 1));
        at = at >= 0 ? at : ~at;
        if (value == 0)
        {
            if (found)
            {
                var shorter = new int[entries.Length - 1];
                entries.AsSpan(0, at).CopyTo(shorter);
                entries.AsSpan(at + 1).CopyTo(shorter.AsSpan(at));
                _entries = shorter;
            }

            return;
        }

        var entry = value > 0 ? down | 1 : down;
        if (found)
        {
            var copy = (int[])entries.Clone();
            copy[at] = entry;
            _entries = copy;
            return;
        }

        var longer = new int[entries.Length + 1];
        entries.AsSpan(0, at).CopyTo(longer);
        longer[at] = entry;
        entries.AsSpan(at).CopyTo(longer.AsSpan(at + 1));
        _entries = longer;
    }
}
