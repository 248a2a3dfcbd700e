using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;
using Xunit.Abstractions;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>
/// Recommend as a digest sees it, measured on the judged set (docs/benchmarks.md, "Digests on the
/// judged queries"): a day brings a few dozen papers, few or none of them on a subscriber's topic,
/// and the digest is chosen from that day alone. Each judged query, and random sets of three, is a
/// subscriber; each day is a random sample of the corpus; the digest holds up to ten papers by the
/// production path (<see cref="Recommender.Candidates"/>, then <see cref="Recommender.Choose"/>).
/// Counted against the grades: the on-topic papers of the day it carries, and the off-topic
/// papers it carries.
/// </summary>
public sealed class Digests_on_judged_queries(JudgedCorpus corpus, ITestOutputHelper output) : IClassFixture<JudgedCorpus>
{
    private const int DayPapers = 30;
    private const int DigestSize = 10;
    private const int Days = 12;

    [JudgedCorpusFact]
    public void Requiring_evidence_keeps_the_on_topic_papers_and_leaves_out_many_off_topic_ones()
    {
        var ranker = corpus.Ranker();
        var random = new Random(20261127);
        var subscribers = corpus.Queries.Select(q => new[] { q }).ToList();
        for (var i = 0; i < 40; i++)
        {
            subscribers.Add(corpus.Queries.OrderBy(_ => random.Next()).Take(3).ToArray());
        }

        var days = Enumerable.Range(0, Days)
            .Select(_ => corpus.Papers.Select(p => p.Paper.Id).OrderBy(_ => random.Next()).Take(DayPapers).ToHashSet(StringComparer.Ordinal))
            .ToArray();
        var now = corpus.Papers.Max(p => p.SeenAt).AddHours(1);

        output.WriteLine($"{subscribers.Count} subscribers ({corpus.Queries.Count} with one judged query, {subscribers.Count - corpus.Queries.Count} with three), {Days} days of {DayPapers} papers, digests of up to {DigestSize}:");
        output.WriteLine("| candidates | subscribers | on-topic (2) of the day carried | partly (1) carried | off-topic (0) per digest | papers per digest |");
        output.WriteLine("|---|---|---|---|---|---|");
        var rules = new (string Name, Func<RelevanceHit, bool> Evidence)[]
        {
            ("all (before)", _ => true),
            ($"**similarity ≥ {Recommender.MinSimilarity} or lexical ≥ {Recommender.MinLexical} (the service)**", Recommender.HasEvidence),
            ("similarity ≥ 0.25 or lexical ≥ 0.5", h => Recommender.HasEvidence(h, 0.25, 0.5)),
            ("similarity ≥ 0.35 or lexical ≥ 0.5", h => Recommender.HasEvidence(h, 0.35, 0.5)),
            ("similarity ≥ 0.3 or lexical ≥ 0.4", h => Recommender.HasEvidence(h, 0.3, 0.4)),
            ("similarity ≥ 0.3 or lexical ≥ 0.7", h => Recommender.HasEvidence(h, 0.3, 0.7)),
            ("similarity ≥ 0.3 only", h => Recommender.HasEvidence(h, 0.3, double.MaxValue)),
        };
        var results = new Dictionary<(string Rule, string Who), Tally>();
        foreach (var (rule, evidence) in rules)
        {
            foreach (var (who, group) in new[] { ("one interest", subscribers.Take(corpus.Queries.Count)), ("three interests", subscribers.Skip(corpus.Queries.Count)) })
            {
                var tally = new Tally();
                foreach (var queries in group)
                {
                    foreach (var day in days)
                    {
                        var (pool, _) = Recommender.Candidates(ranker, corpus.Index, _ => 0, queries.Select(corpus.QueryOf).ToArray(), DigestSize,
                            p => day.Contains(p.Paper.Id), evidence: evidence);
                        var digest = Recommender.Choose(pool, ProfilePreferences.None, now, DigestSize).Select(r => r.Paper.Paper.Id).ToHashSet(StringComparer.Ordinal);
                        tally.Add(day, digest, id => queries.Max(q => q.Relevant.GetValueOrDefault(id)));
                    }
                }

                results[(rule, who)] = tally;
                output.WriteLine($"| {rule} | {who} | {tally.Describe(2)} | {tally.Describe(1)} | {tally.OffTopicPerDigest:F2} | {tally.PapersPerDigest:F2} |");
            }
        }

        foreach (var who in new[] { "one interest", "three interests" })
        {
            var (before, after) = (results[(rules[0].Name, who)], results[(rules[1].Name, who)]);
            Assert.True(after.Rate(2) >= before.Rate(2) - 0.02,
                $"{who}: evidence should keep the on-topic papers: {after.Rate(2):P1} carried against {before.Rate(2):P1}");
            Assert.True(after.OffTopicPerDigest <= before.OffTopicPerDigest * 0.7,
                $"{who}: evidence should leave out at least 30 % of the off-topic papers: {after.OffTopicPerDigest:F2} per digest against {before.OffTopicPerDigest:F2}");
        }
    }

    private sealed class Tally
    {
        private readonly int[] _available = new int[3];
        private readonly int[] _carried = new int[3];
        private int _digests;
        private int _papers;

        public double OffTopicPerDigest => (double)_carried[0] / _digests;

        public double PapersPerDigest => (double)_papers / _digests;

        public void Add(IReadOnlySet<string> day, IReadOnlySet<string> digest, Func<string, int> grade)
        {
            _digests++;
            _papers += digest.Count;
            foreach (var id in day)
            {
                var g = grade(id);
                _available[g]++;
                if (digest.Contains(id))
                {
                    _carried[g]++;
                }
            }
        }

        public double Rate(int grade) => _available[grade] == 0 ? 1 : (double)_carried[grade] / _available[grade];

        public string Describe(int grade) => $"{_carried[grade]} / {_available[grade]} ({Rate(grade):P1})";
    }
}
