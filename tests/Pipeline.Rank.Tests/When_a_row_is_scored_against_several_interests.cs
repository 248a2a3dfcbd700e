using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests;

/// <summary>
/// A subscriber's interests are scored against each int8 row in one go (the row widened once);
/// the answer must be exactly what scoring each interest on its own gives.
/// </summary>
public class When_a_row_is_scored_against_several_interests
{
    [Fact]
    public void The_best_interest_and_its_score_equal_one_dot_product_per_interest()
    {
        if (!VectorRows.CanScoreManyAt384)
        {
            // Without AVX-512BW the index scores one interest at a time and this kernel is not used.
            return;
        }

        var random = new Random(11);
        var data = new ClusteredVectors(5);
        for (var trial = 0; trial < 200; trial++)
        {
            var row = new sbyte[PaperIndex.Dimensions];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = (sbyte)random.Next(-127, 128);
            }

            var count = 1 + trial % 5;
            var flat = new short[count * PaperIndex.Dimensions];
            var scales = new float[count];
            for (var q = 0; q < count; q++)
            {
                scales[q] = VectorRows.QuantizeQuery(data.Paper(), flat.AsSpan(q * PaperIndex.Dimensions, PaperIndex.Dimensions));
            }

            var (expected, expectedQuery) = (float.NegativeInfinity, 0);
            for (var q = 0; q < count; q++)
            {
                var s = VectorRows.DotInt8(row, flat.AsSpan(q * PaperIndex.Dimensions, PaperIndex.Dimensions)) * scales[q];
                if (s > expected)
                {
                    (expected, expectedQuery) = (s, q);
                }
            }

            var (score, query) = VectorRows.BestDotInt8At384(row, flat, scales);
            Assert.Equal(expected, score);
            Assert.Equal(expectedQuery, query);
        }
    }
}
