namespace Pipeline.Rank.Tests.Relevance;

/// <summary>Normalised discounted cumulative gain with graded gains 2^rel - 1 and a log2(rank + 1) discount.</summary>
public static class Ndcg
{
    public static double At(int k, IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> grades)
    {
        var ideal = Dcg(grades.Values.Where(g => g > 0).OrderByDescending(g => g).Take(k));
        return ideal == 0 ? 0 : Dcg(ranked.Take(k).Select(id => grades.GetValueOrDefault(id))) / ideal;
    }

    private static double Dcg(IEnumerable<int> grades) =>
        grades.Select((grade, i) => (Math.Pow(2, grade) - 1) / Math.Log2(i + 2)).Sum();
}
