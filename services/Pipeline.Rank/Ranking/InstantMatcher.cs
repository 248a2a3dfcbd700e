using System.Globalization;
using System.Numerics.Tensors;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Ranking;

/// <summary>A new paper that passed an instant-alert subscriber's threshold.</summary>
public sealed record InstantMatch(SubscriberProfile Profile, double Score, string Interest, string Reason);

/// <summary>
/// Scores a new paper against every instant-alert profile: one matrix-vector product over the
/// stacked int8 interest vectors (<see cref="ProfileIndex.InstantMatrix"/>), a running maximum per
/// profile, and an exact fp32 re-check of each profile the quantization error could put over its
/// threshold. A profile also matches, whatever the similarity, when the paper's title or abstract
/// contains every word of one of its interests (<see cref="InterestWords"/>).
/// </summary>
public sealed class InstantMatcher(ProfileIndex profiles)
{
    /// <summary>The profiles <paramref name="paperVector"/> is similar enough to, by meaning only.</summary>
    public IReadOnlyList<InstantMatch> Match(ReadOnlySpan<float> paperVector) => Match(paperVector, null);

    /// <summary>
    /// The profiles the paper matches: similar in meaning to an interest (cosine at or above the
    /// profile's threshold), or containing every word of an interest when <paramref name="paper"/>
    /// is given. The reason names the interest's words the paper has, and where.
    /// </summary>
    public IReadOnlyList<InstantMatch> Match(ReadOnlySpan<float> paperVector, PaperSummary? paper)
    {
        var matrix = profiles.InstantMatrix();
        if (matrix.Profiles.Length == 0)
        {
            return [];
        }

        if (paperVector.Length != PaperIndex.Dimensions)
        {
            throw new ArgumentException($"A vector has {PaperIndex.Dimensions} dimensions, not {paperVector.Length}.", nameof(paperVector));
        }

        // Each int8 element is within half a step (scale / 2) of the fp32 one, so a row's int8 dot
        // product is within scale / 2 × ‖paper‖₁ of the exact one; the slack covers float rounding.
        var halfL1 = (0.5f * TensorPrimitives.SumOfMagnitudes(paperVector)) + 1e-4f;
        var contained = ContainedRows(matrix, paper);
        var nextContained = 0;
        List<InstantMatch>? matches = null;
        var rows = matrix.Rows;
        var scratch = rows.Scratch();
        var profile = 0;
        var best = float.NegativeInfinity;
        var total = matrix.RowCount;
        for (var first = 0; first < total; first += VectorRows.BlockRows)
        {
            var count = Math.Min(VectorRows.BlockRows, total - first);
            var block = rows.Decode(first, count, scratch);
            for (var r = 0; r < count; r++)
            {
                var row = first + r;
                while (row >= matrix.FirstRow[profile + 1])
                {
                    // The rows of the previous profile are done.
                    Consider(matrix, profile, best, paperVector, paper, contained, ref nextContained, ref matches);
                    profile++;
                    best = float.NegativeInfinity;
                }

                var scale = rows.ScaleOf(row);
                var upper = (TensorPrimitives.Dot(block.Slice(r * PaperIndex.Dimensions, PaperIndex.Dimensions), paperVector) * scale) + (scale * halfL1);
                if (upper > best)
                {
                    best = upper;
                }
            }
        }

        Consider(matrix, profile, best, paperVector, paper, contained, ref nextContained, ref matches);
        return matches is null ? [] : matches;
    }

    /// <summary>The rows whose interest the paper contains word for word, in ascending order (empty without a paper).</summary>
    private static List<int> ContainedRows(InstantProfileMatrix matrix, PaperSummary? paper)
    {
        var rows = new List<int>();
        if (paper is not null && matrix.Words.Count > 0)
        {
            matrix.Words.Contained(InterestWords.TermsOf(paper), rows);
            rows.Sort();
        }

        return rows;
    }

    /// <summary>
    /// A profile whose best possible score reaches its threshold gets the exact fp32 check; one
    /// with an interest the paper contains matches on that interest if the check does not pass.
    /// </summary>
    private static void Consider(
        InstantProfileMatrix matrix, int profile, float upperBound, ReadOnlySpan<float> paperVector, PaperSummary? paper,
        List<int> contained, ref int nextContained, ref List<InstantMatch>? matches)
    {
        // The first of this profile's rows whose interest the paper contains, if any.
        var containedRow = -1;
        while (nextContained < contained.Count && contained[nextContained] < matrix.FirstRow[profile + 1])
        {
            if (containedRow < 0 && contained[nextContained] >= matrix.FirstRow[profile])
            {
                containedRow = contained[nextContained];
            }

            nextContained++;
        }

        if (upperBound < matrix.Thresholds[profile] && containedRow < 0)
        {
            return;
        }

        var candidate = matrix.Profiles[profile];
        var (score, query) = PaperIndex.MaxSimilarity(candidate.Vectors, paperVector);
        if (score < candidate.InstantThreshold)
        {
            if (containedRow < 0)
            {
                return;
            }

            query = containedRow - matrix.FirstRow[profile];
            score = TensorPrimitives.Dot(candidate.Vectors[query], paperVector);
        }

        var interest = candidate.Interests[query];
        var reason = paper is null
            ? Reasons.MatchesInterest(interest, score)
            : RelevanceReason.Explain(new RelevanceHit(new IndexedPaper(paper, default), score, score, 0, 0), [interest]);
        (matches ??= []).Add(new InstantMatch(candidate, score, interest, reason));
    }
}

/// <summary>Reasons a person can read.</summary>
public static class Reasons
{
    public static string MatchesInterest(string interest, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"matches your interest '{interest}' (similarity {score:F2})");

    public static string MatchesQuery(string query, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"matches '{query}' (similarity {score:F2})");

    public static string SimilarTo(string title, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"similar to '{title}' (similarity {score:F2})");
}
