using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Rank.Tests.Relevance;

internal static class TestPapers
{
    public static IndexedPaper Paper(string id, string title, string @abstract = "") =>
        new(new PaperSummary(id, 1, title, @abstract, [], [], null, "https://arxiv.org/abs/" + id, "api", 0), DateTimeOffset.UnixEpoch);

    public static IReadOnlyList<IReadOnlyList<string>> Query(params string[] texts) =>
        texts.Select(t => Pipeline.Rank.Ranking.Relevance.RelevanceRanker.TermsOf(t)).ToArray();
}
