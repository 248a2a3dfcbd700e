namespace Pipeline.Rank.Ranking;

/// <summary>
/// A small number for every paper id rank has met, the same for the life of the process, so that
/// sets of papers hold a few bytes a paper instead of a string and a hash-table entry each (about
/// 100 bytes): what each subscriber was sent (<see cref="SentPapers"/>, 2 bytes a paper; 300 MB as
/// ids for 10,000 subscribers sent 300 papers each, docs/benchmarks.md "What subscribers were
/// sent") and each voter's votes (<see cref="Opinions"/>, 4 bytes a vote). A paper is looked up in
/// them by its <see cref="IndexedPaper.Ordinal"/> without hashing its id. Numbers are never
/// reused; a process keeps each paper id's number while it runs (about 36 bytes an id: an entry,
/// and the id by number for <see cref="IdOf"/>; the id is the paper's own string).
/// </summary>
public static class PaperOrdinals
{
    // A plain dictionary under a lock: 28 bytes an id against a concurrent dictionary's 56 (6 MB
    // of rank's memory at 100,000 papers). The lock is taken when a paper record is made, a digest
    // is marked sent, or a Recommend looks up the few ids it is asked to leave out; a ranking
    // reads each paper's number from the paper itself.
    private static readonly Dictionary<string, int> Ordinals = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> OrdinalsByText = Ordinals.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly List<string> Ids = [];
    private static readonly Lock Numbering = new();

    /// <summary>The id's number, given it now if it has none.</summary>
    public static int Of(string paperId)
    {
        lock (Numbering)
        {
            ref var ordinal = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(Ordinals, paperId, out var exists);
            if (!exists)
            {
                ordinal = Ordinals.Count - 1;
                Ids.Add(paperId);
            }

            return ordinal;
        }
    }

    /// <summary>
    /// The number of the id spelled by <paramref name="paperId"/>, given it now if it has none: a
    /// string is made only for an id never met (the startup load of sent papers reads millions of
    /// ids, nearly all of them papers the index already numbered).
    /// </summary>
    public static int Of(ReadOnlySpan<char> paperId)
    {
        lock (Numbering)
        {
            if (!OrdinalsByText.TryGetValue(paperId, out var ordinal))
            {
                ordinal = Ordinals.Count;
                OrdinalsByText[paperId] = ordinal;
                OrdinalsByText.TryGetValue(paperId, out var id, out _);
                Ids.Add(id!);
            }

            return ordinal;
        }
    }

    /// <summary>How many ids have a number (numbers run from 0 to this - 1).</summary>
    public static int Count
    {
        get
        {
            lock (Numbering)
            {
                return Ids.Count;
            }
        }
    }

    /// <summary>The paper id numbered <paramref name="ordinal"/> (the string the number was first given for).</summary>
    public static string IdOf(int ordinal)
    {
        lock (Numbering)
        {
            return Ids[ordinal];
        }
    }

    /// <summary>The id's number if it has one, without giving it one.</summary>
    public static bool TryGet(string paperId, out int ordinal)
    {
        lock (Numbering)
        {
            return Ordinals.TryGetValue(paperId, out ordinal);
        }
    }
}
