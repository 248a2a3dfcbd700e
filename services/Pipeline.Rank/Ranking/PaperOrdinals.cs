using System.Collections.Concurrent;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// A small number for every paper id rank has met, the same for the life of the process, so that
/// sets of papers (what each subscriber was sent) hold 4 bytes a paper instead of a string and a
/// hash-table entry each (about 110 bytes: 329 MB for 10,000 subscribers sent 300 papers each,
/// docs/benchmarks.md "What subscribers were sent"), and a paper is looked up in them by its
/// <see cref="IndexedPaper.Ordinal"/> without hashing its id. Numbers are never reused; a
/// process meets each paper id once (about 60 bytes an id, kept while the process runs).
/// </summary>
public static class PaperOrdinals
{
    private static readonly ConcurrentDictionary<string, int> Ordinals = new(StringComparer.Ordinal);
    private static int _last = -1;

    /// <summary>The id's number, given it now if it has none.</summary>
    public static int Of(string paperId) =>
        Ordinals.TryGetValue(paperId, out var ordinal) ? ordinal : Ordinals.GetOrAdd(paperId, static _ => Interlocked.Increment(ref _last));

    /// <summary>The id's number if it has one, without giving it one.</summary>
    public static bool TryGet(string paperId, out int ordinal) => Ordinals.TryGetValue(paperId, out ordinal);
}
