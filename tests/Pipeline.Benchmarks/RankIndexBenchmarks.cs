using BenchmarkDotNet.Attributes;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Benchmarks;

/// <summary>
/// Rank's scan: the best 10 of 100,000 papers for one query (Search, Similar) and for three
/// interests (a typical Recommend), per vector precision, on one thread and on two.
/// <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- --filter *RankTop*</c>
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
public class RankTop
{
    private PaperIndex _index = null!;
    private float[][] _one = null!;
    private float[][] _three = null!;
    private DateTimeOffset _since;

    [Params(VectorPrecision.Float32, VectorPrecision.Float16, VectorPrecision.Int8)]
    public VectorPrecision Precision { get; set; }

    [Params(false, true)]
    public bool TwoThreads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var data = new RankSynthetic();
        var now = DateTimeOffset.UtcNow;
        _index = new PaperIndex(Precision) { ParallelThreshold = TwoThreads ? 32_768 : int.MaxValue };
        for (var i = 0; i < 100_000; i++)
        {
            var (paper, vector) = data.Paper(i, now);
            _index.Upsert(paper, vector);
        }

        _one = [data.QueryVector()];
        _three = [data.QueryVector(), data.QueryVector(), data.QueryVector()];
        _since = now.AddDays(-30);
    }

    [Benchmark]
    public int OneQuery() => _index.Top(_one, 10).Count;

    [Benchmark]
    public int ThreeInterestsSinceAMonth() => _index.Top(_three, 10, p => p.SeenAt >= _since).Count;
}

/// <summary>
/// One new paper against 10,000 instant-alert profiles (1 to 5 interests each, about 30,000
/// vectors): the fp16 matrix matcher, and the simple per-profile fp32 loop it replaced as baseline.
/// <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- --filter *RankInstantMatch*</c>
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
public class RankInstantMatch
{
    private ProfileIndex _profiles = null!;
    private InstantMatcher _matcher = null!;
    private float[][] _papers = null!;
    private PaperSummary[] _summaries = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var data = new RankSynthetic();
        var now = DateTimeOffset.UtcNow;
        _profiles = new ProfileIndex();
        _profiles.UpsertMany(Enumerable.Range(0, 10_000).Select(i => data.Subscriber(i, "instant", now)));
        // Rank's lexical index tells the matcher which words are common; 5,000 papers are enough to tell.
        var index = new PaperIndex();
        var relevance = new RelevanceRanker(index);
        foreach (var (paper, vector) in Enumerable.Range(1_000, 5_000).Select(i => data.Paper(i, now)))
        {
            index.Upsert(paper, vector);
            relevance.Add(paper);
        }

        _matcher = new InstantMatcher(_profiles, relevance, null);
        var synthetic = Enumerable.Range(0, 64).Select(i => data.Paper(i, now)).ToArray();
        _papers = synthetic.Select(p => p.Vector).ToArray();
        _summaries = synthetic.Select(p => p.Paper.Paper).ToArray();
        _matcher.Match(_papers[0], _summaries[0]);
    }

    [Benchmark]
    public int MatrixMatcher() => _matcher.Match(_papers[_next++ & 63]).Count;

    /// <summary>What rank runs per paper: by meaning, and by the words of every interest.</summary>
    [Benchmark]
    public int MatrixMatcherWithWords()
    {
        var i = _next++ & 63;
        return _matcher.Match(_papers[i], _summaries[i]).Count;
    }

    [Benchmark(Baseline = true)]
    public int SimpleLoop()
    {
        var paper = _papers[_next++ & 63];
        var matches = 0;
        foreach (var profile in _profiles.All)
        {
            if (profile.WantsInstantAlerts && PaperIndex.MaxSimilarity(profile.Vectors, paper).Score >= profile.InstantThreshold)
            {
                matches++;
            }
        }

        return matches;
    }
}

/// <summary>
/// Who follows the authors of one new paper (what instant matching asks for each paper once anyone
/// follows an author): a paper of 1,000 authors, as large collaborations write, against 10,000
/// subscribers who follow three authors each. <see cref="Feedback.FollowersOf"/> folds each
/// author's surname without allocating and parses only the names whose surname someone follows;
/// the baseline parses every name, which the first version did.
/// <c>dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll --filter '*RankFollowedAuthors*' --inProcess</c>
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
public class RankFollowedAuthors
{
    private Feedback _feedback = null!;
    private string[] _authors = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        string[] given = ["Grace", "Alan", "Ada", "Barbara", "Edsger", "Frances", "Donald", "Leslie", "Margaret", "Tony"];
        string Name(int surname) => $"{given[random.Next(given.Length)]} {(char)('A' + random.Next(26))}. Surname{surname}";
        _feedback = new Feedback();
        for (var s = 0; s < 10_000; s++)
        {
            _feedback.SetPreferences($"subscriber-{s}", new ProfilePreferences([], [Name(random.Next(2_000)), Name(random.Next(2_000)), Name(random.Next(2_000))], []));
        }

        // Surnames 0-49,999: about one author in 25 has a surname someone follows.
        _authors = Enumerable.Range(0, 1_000).Select(_ => Name(random.Next(50_000))).ToArray();
    }

    [Benchmark]
    public int FollowersOfEveryAuthor()
    {
        var count = 0;
        foreach (var author in _authors)
        {
            count += _feedback.FollowersOf(author).Count();
        }

        return count;
    }

    [Benchmark(Baseline = true)]
    public int ParseEveryAuthor()
    {
        var count = 0;
        foreach (var author in _authors)
        {
            count += AuthorName.Parse(author).Surname.Length;
        }

        return count;
    }
}
