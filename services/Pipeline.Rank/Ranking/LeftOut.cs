using System.Buffers;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// The papers one answer leaves out (what a subscriber was sent, disliked or gave as seeds), as a
/// bitmap by <see cref="PaperOrdinals"/> number made for the call: asking about a paper is one bit
/// test, with no delegate, hashing or search, so the rankings can ask about every paper that would
/// enter their answers and about each of the prefilter's candidates (a subscriber's history was a
/// search in its packed set for each, about a fifth of a Recommend's CPU: docs/benchmarks.md,
/// "Left out by a bitmap"). One bit for each number
/// up to the highest left out (12.5 KB at 100,000 papers), rented from the shared array pool and
/// handed back by <see cref="Dispose"/>; read-only once made, so both sides of a ranking read it at
/// once.
/// </summary>
public sealed class LeftOut : IDisposable
{
    private ulong[] _bits;
    private int _words;

    private LeftOut(ulong[] bits, int words, int count)
    {
        (_bits, _words, Count) = (bits, words, count);
    }

    /// <summary>How many distinct papers are left out.</summary>
    public int Count { get; }

    /// <summary>
    /// The papers of <paramref name="sent"/> and those numbered <paramref name="ordinals"/>
    /// (negative numbers, for ids rank never met, are skipped), or null when that is none.
    /// </summary>
    public static LeftOut? Of(SentPapers? sent, IEnumerable<int> ordinals)
    {
        var others = ordinals.Where(o => o >= 0).ToArray();
        var highest = Math.Max(sent?.Highest ?? -1, others.Length == 0 ? -1 : others.Max());
        if (highest < 0)
        {
            return null;
        }

        var words = (highest >> 6) + 1;
        var bits = ArrayPool<ulong>.Shared.Rent(words);
        Array.Clear(bits, 0, words);
        var count = sent?.SetBits(bits.AsSpan(0, words)) ?? 0;
        foreach (var ordinal in others)
        {
            count += SetBit(bits, ordinal);
        }

        return new LeftOut(bits, words, count);
    }

    /// <summary>The papers with ids <paramref name="paperIds"/>, numbered now if rank never met them (for tests and benchmarks).</summary>
    public static LeftOut? Of(IEnumerable<string> paperIds) => Of(null, paperIds.Select(PaperOrdinals.Of));

    /// <summary>Sets bit <paramref name="ordinal"/> % 64 of word <paramref name="ordinal"/> / 64; 1 when it was not set before, else 0.</summary>
    internal static int SetBit(Span<ulong> bits, int ordinal)
    {
        ref var word = ref bits[ordinal >> 6];
        var bit = 1UL << ordinal;
        var added = (word & bit) == 0 ? 1 : 0;
        word |= bit;
        return added;
    }

    /// <summary>Whether the paper numbered <paramref name="ordinal"/> is left out.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool Contains(int ordinal)
    {
        var word = ordinal >> 6;
        return (uint)word < (uint)_words && (_bits[word] & (1UL << ordinal)) != 0;
    }

    /// <summary>Whether <paramref name="paper"/> is left out.</summary>
    public bool Contains(IndexedPaper paper) => Contains(paper.Ordinal);

    /// <summary>Hands the bitmap back to the pool; the set is empty afterwards.</summary>
    public void Dispose()
    {
        _words = 0;
        var bits = Interlocked.Exchange(ref _bits, []);
        if (bits.Length > 0)
        {
            ArrayPool<ulong>.Shared.Return(bits);
        }
    }
}
