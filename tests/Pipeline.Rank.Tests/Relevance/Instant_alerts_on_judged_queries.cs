using System.Globalization;
using Pipeline.Rank.Ranking;
using Xunit.Abstractions;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>
/// Instant matching measured on the judged set (docs/benchmarks.md, "Instant alerts"): every judged
/// query is an instant subscriber's interest at the default threshold, every paper of the corpus
/// arrives once, and each (interest, paper) alert is compared with the grade. By meaning alone
/// (the similarity threshold), then with the words rule the service uses.
/// </summary>
public sealed class Instant_alerts_on_judged_queries(JudgedCorpus corpus, ITestOutputHelper output) : IClassFixture<JudgedCorpus>
{
    private const double DefaultThreshold = 0.5;

    [JudgedCorpusFact]
    public void The_words_rule_alerts_on_more_on_topic_papers_and_on_hardly_any_more_off_topic_ones()
    {
        var profiles = new ProfileIndex();
        profiles.UpsertMany(corpus.Queries.Select(q =>
            new SubscriberProfile(q.Id, [q.Text], [corpus.QueryVectors[q.Id]], "instant", DefaultThreshold, DateTimeOffset.UnixEpoch)));
        var matcher = new InstantMatcher(profiles);

        var byMeaning = Tally(paper => matcher.Match(corpus.PaperVectors[paper]));
        var withWords = Tally(paper => matcher.Match(corpus.PaperVectors[paper], corpus.Papers[paper].Paper));
        // As the service runs once it holds 1,000 papers: interests whose words are all common
        // (each on more than a tenth of the papers) are left to meaning. Here from the first paper.
        var common = new InstantMatcher(profiles, corpus.Ranker(), null) { CommonWordMinPapers = 0 };
        var withRarerWords = Tally(paper => common.Match(corpus.PaperVectors[paper], corpus.Papers[paper].Paper));

        output.WriteLine($"{corpus.Queries.Count} judged queries as instant interests (threshold {DefaultThreshold}), {corpus.Papers.Count} papers:");
        output.WriteLine("| rule | kind | on topic (2) alerted | partly (1) alerted | off topic (0) alerted |");
        output.WriteLine("|---|---|---|---|---|");
        foreach (var kind in new[] { "all" }.Concat(corpus.Queries.Select(q => q.Kind).Distinct()))
        {
            output.WriteLine($"| similarity ≥ {DefaultThreshold} | {kind} | {byMeaning.Describe(kind, 2)} | {byMeaning.Describe(kind, 1)} | {byMeaning.Describe(kind, 0)} |");
            output.WriteLine($"| or every word | {kind} | {withWords.Describe(kind, 2)} | {withWords.Describe(kind, 1)} | {withWords.Describe(kind, 0)} |");
            output.WriteLine($"| or every word, not all common | {kind} | {withRarerWords.Describe(kind, 2)} | {withRarerWords.Describe(kind, 1)} | {withRarerWords.Describe(kind, 0)} |");
        }

        Assert.True(withWords.Rate("all", 2) >= byMeaning.Rate("all", 2) + 0.10,
            $"the words rule should alert on at least 10 points more on-topic pairs: {withWords.Rate("all", 2):P1} against {byMeaning.Rate("all", 2):P1}");
        Assert.True(withWords.Rate("keyword", 2) >= byMeaning.Rate("keyword", 2) + 0.20,
            $"names and acronyms are what meaning misses: {withWords.Rate("keyword", 2):P1} against {byMeaning.Rate("keyword", 2):P1}");
        Assert.True(withRarerWords.Rate("all", 2) >= byMeaning.Rate("all", 2) + 0.10,
            $"leaving common-word interests to meaning should keep the gain: {withRarerWords.Rate("all", 2):P1} against {byMeaning.Rate("all", 2):P1}");
        Assert.True(withWords.Rate("all", 0) <= byMeaning.Rate("all", 0) + 0.002,
            $"off-topic alerts should hardly grow: {withWords.Rate("all", 0):P2} against {byMeaning.Rate("all", 0):P2}");
    }

    private Tally Tally(Func<int, IReadOnlyList<InstantMatch>> match)
    {
        var tally = new Tally();
        for (var p = 0; p < corpus.Papers.Count; p++)
        {
            var alerted = match(p).Select(m => m.Profile.SubscriberId).ToHashSet(StringComparer.Ordinal);
            foreach (var query in corpus.Queries)
            {
                var grade = query.Relevant.GetValueOrDefault(corpus.Papers[p].Paper.Id);
                tally.Add(query.Kind, grade, alerted.Contains(query.Id));
            }
        }

        return tally;
    }
}

internal sealed class Tally
{
    private readonly Dictionary<(string Kind, int Grade), (int Alerted, int Pairs)> _counts = [];

    public void Add(string kind, int grade, bool alerted)
    {
        foreach (var key in new[] { (kind, grade), ("all", grade) })
        {
            var (a, n) = _counts.GetValueOrDefault(key);
            _counts[key] = (a + (alerted ? 1 : 0), n + 1);
        }
    }

    public double Rate(string kind, int grade)
    {
        var (a, n) = _counts.GetValueOrDefault((kind, grade));
        return n == 0 ? 0 : (double)a / n;
    }

    public string Describe(string kind, int grade)
    {
        var (a, n) = _counts.GetValueOrDefault((kind, grade));
        return string.Create(CultureInfo.InvariantCulture, $"{a} / {n} ({(n == 0 ? 0 : 100.0 * a / n):0.0} %)");
    }
}
