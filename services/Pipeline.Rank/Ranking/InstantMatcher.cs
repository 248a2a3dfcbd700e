using System.Globalization;
using System.Numerics.Tensors;

namespace Pipeline.Rank.Ranking;

/// <summary>A new paper that passed an instant-alert subscriber's threshold.</summary>
public sealed record InstantMatch(SubscriberProfile Profile, double Score, string Interest, string Reason);

/// <summary>
/// Scores a new paper against every instant-alert profile: one matrix-vector product over the
/// stacked int8 interest vectors (<see cref="ProfileIndex.InstantMatrix"/>), a running maximum per
/// profile, and an exact fp32 re-check of each profile the quantization error could put over its
/// threshold.
/// </summary>
public sealed class InstantMatcher(ProfileIndex profiles)
{
    public IReadOnlyList<InstantMatch> Match(ReadOnlySpan<float> paperVector)
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
                    Consider(matrix, profile, best, paperVector, ref matches);
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

        Consider(matrix, profile, best, paperVector, ref matches);
        return matches is null ? [] : matches;
    }

    /// <summary>A profile whose best possible score reaches its threshold gets the exact fp32 check.</summary>
    private static void Consider(InstantProfileMatrix matrix, int profile, float upperBound, ReadOnlySpan<float> paperVector, ref List<InstantMatch>? matches)
    {
        if (upperBound < matrix.Thresholds[profile])
        {
            return;
        }

        var candidate = matrix.Profiles[profile];
        var (score, query) = PaperIndex.MaxSimilarity(candidate.Vectors, paperVector);
        if (score >= candidate.InstantThreshold)
        {
            var interest = candidate.Interests[query];
            (matches ??= []).Add(new InstantMatch(candidate, score, interest, Reasons.MatchesInterest(interest, score)));
        }
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
