using System.Globalization;
using System.Numerics.Tensors;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Ranking;

/// <summary>
/// A new paper that matched an instant-alert subscriber: similar in meaning to one of their
/// interests, holding every word of one, or by an author they follow. The reason is written when
/// first read: a paper can match many subscribers, and those over their daily limit are never told.
/// </summary>
public sealed class InstantMatch
{
    private readonly PaperWords? _words;
    private string? _reason;

    internal InstantMatch(SubscriberProfile profile, double score, string interest, PaperWords? words, string? reason = null)
    {
        Profile = profile;
        Score = score;
        Interest = interest;
        _words = words;
        _reason = reason;
    }

    public SubscriberProfile Profile { get; }

    /// <summary>The cosine between the paper and <see cref="Interest"/>.</summary>
    public double Score { get; }

    public string Interest { get; }

    /// <summary>"matches your interest 'diffusion models': 'diffusion', 'models' in the title; similar in meaning (0.62)".</summary>
    public string Reason => _reason ??= _words is null ? Reasons.MatchesInterest(Interest, Score) : _words.Explain(Interest, Score);
}

/// <summary>
/// Scores a new paper against every instant-alert profile: one matrix-vector product over the
/// stacked int8 interest vectors (<see cref="ProfileIndex.InstantMatrix"/>), a running maximum per
/// profile, and an exact fp32 re-check of each profile the quantization error could put over its
/// threshold. A profile also matches, whatever the similarity, when the paper's title or abstract
/// contains every word of one of its interests (<see cref="InterestWords"/>), unless all of that
/// interest's words are common: each on more than <see cref="CommonWordShare"/> of the indexed
/// papers, once at least <see cref="CommonWordMinPapers"/> are indexed. Such words pick out a large
/// part of everything that arrives ("deep learning", "language models"), so meaning decides. And a
/// paper by an author the subscriber follows matches whatever its words and meaning.
/// </summary>
public sealed class InstantMatcher
{
    private readonly ProfileIndex _profiles;
    private readonly RelevanceRanker? _relevance;
    private readonly Feedback? _feedback;

    /// <summary>Without a lexical index every interest's words count; without preferences no author is followed.</summary>
    public InstantMatcher(ProfileIndex profiles)
        : this(profiles, null, null, null)
    {
    }

    public InstantMatcher(ProfileIndex profiles, RelevanceRanker? relevance, IConfiguration? configuration, Feedback? feedback = null)
    {
        _profiles = profiles;
        _relevance = relevance;
        _feedback = feedback;
        CommonWordShare = configuration?.GetValue("Ranking:InstantCommonWordShare", 0.1) ?? 0.1;
        CommonWordMinPapers = configuration?.GetValue("Ranking:InstantCommonWordMinPapers", 1_000) ?? 1_000;
    }

    /// <summary>A word on more than this share of the indexed papers is common (default 0.1).</summary>
    public double CommonWordShare { get; init; }

    /// <summary>Below this many indexed papers no word counts as common: too few papers to tell (default 1,000).</summary>
    public int CommonWordMinPapers { get; init; }

    /// <summary>The profiles <paramref name="paperVector"/> is similar enough to, by meaning only.</summary>
    public IReadOnlyList<InstantMatch> Match(ReadOnlySpan<float> paperVector) => Match(paperVector, null);

    /// <summary>
    /// The profiles the paper matches: similar in meaning to an interest (cosine at or above the
    /// profile's threshold), or, when <paramref name="paper"/> is given, holding every word of an
    /// interest that has a word which is not common, or by an author the subscriber follows. The
    /// reason names the interest's words the paper has and where, or the followed author.
    /// </summary>
    public IReadOnlyList<InstantMatch> Match(ReadOnlySpan<float> paperVector, PaperSummary? paper)
    {
        var matrix = _profiles.InstantMatrix();
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
        var words = paper is null ? null : new PaperWords(paper);
        var scan = new Scan(matrix, words, ContainedInterests(matrix, words), FollowedAuthors(matrix, paper));
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
                    scan.Consider(profile, best, paperVector);
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

        scan.Consider(profile, best, paperVector);
        return scan.Matches is null ? [] : scan.Matches;
    }

    /// <summary>
    /// Profile number → the first of its interests the paper holds word for word, among those whose
    /// words are not all common (null without a paper or such an interest).
    /// </summary>
    private Dictionary<int, int>? ContainedInterests(InstantProfileMatrix matrix, PaperWords? words)
    {
        if (words is null || matrix.Words.Count == 0)
        {
            return null;
        }

        var rows = new List<int>();
        matrix.Words.Contained(words.Terms, rows);
        var common = new Dictionary<string, bool>(StringComparer.Ordinal);
        var judgeCommon = _relevance is { } relevance && relevance.PaperCount >= CommonWordMinPapers;
        Dictionary<int, int>? contained = null;
        foreach (var row in rows)
        {
            if (judgeCommon && matrix.Words.TermsOf(row).All(term =>
                common.TryGetValue(term, out var known) ? known : common[term] = _relevance!.ShareOf(term) > CommonWordShare))
            {
                continue;
            }

            var profile = matrix.ProfileOfRow(row);
            var interest = row - matrix.FirstRow[profile];
            contained ??= [];
            contained[profile] = Math.Min(interest, contained.GetValueOrDefault(profile, interest));
        }

        return contained;
    }

    /// <summary>Profile number → the first of the paper's authors that profile follows (null without a paper or followers).</summary>
    private Dictionary<int, string>? FollowedAuthors(InstantProfileMatrix matrix, PaperSummary? paper)
    {
        if (paper is null || _feedback is not { AnyFollowed: true })
        {
            return null;
        }

        Dictionary<int, string>? followed = null;
        foreach (var author in paper.Authors)
        {
            foreach (var subscriber in _feedback.FollowersOf(author))
            {
                if (matrix.Numbers.TryGetValue(subscriber, out var profile))
                {
                    (followed ??= []).TryAdd(profile, author);
                }
            }
        }

        return followed;
    }

    /// <summary>One paper's evidence besides meaning, and the matches found so far.</summary>
    private sealed class Scan(InstantProfileMatrix matrix, PaperWords? words, Dictionary<int, int>? contained, Dictionary<int, string>? followed)
    {
        public List<InstantMatch>? Matches { get; private set; }

        /// <summary>
        /// A profile whose best possible score reaches its threshold gets the exact fp32 check; if
        /// that does not pass, it matches on an interest the paper holds word for word, else on a
        /// followed author.
        /// </summary>
        public void Consider(int profile, float upperBound, ReadOnlySpan<float> paperVector)
        {
            var candidate = matrix.Profiles[profile];
            if (upperBound >= matrix.Thresholds[profile])
            {
                var (score, query) = PaperIndex.MaxSimilarity(candidate.Vectors, paperVector);
                if (score >= candidate.InstantThreshold)
                {
                    (Matches ??= []).Add(new InstantMatch(candidate, score, candidate.Interests[query], words));
                    return;
                }
            }

            if (contained is not null && contained.TryGetValue(profile, out var interest))
            {
                var score = candidate.Vectors is HalfVectors half
                    ? half.Dot(interest, paperVector)
                    : TensorPrimitives.Dot(candidate.Vectors[interest], paperVector);
                (Matches ??= []).Add(new InstantMatch(candidate, score, candidate.Interests[interest], words));
                return;
            }

            if (followed is not null && followed.TryGetValue(profile, out var author))
            {
                var (score, query) = PaperIndex.MaxSimilarity(candidate.Vectors, paperVector);
                (Matches ??= []).Add(new InstantMatch(candidate, score, candidate.Interests[query], words, Reasons.ByFollowedAuthor(author)));
            }
        }
    }
}

/// <summary>A new paper's terms, and where they are, for matching interests by their words and saying why.</summary>
internal sealed class PaperWords(PaperSummary paper)
{
    private HashSet<string>? _title;
    private HashSet<string>? _abstract;

    /// <summary>The distinct terms of the title and the abstract.</summary>
    public HashSet<string> Terms { get; } = InterestWords.TermsOf(paper);

    public string Explain(string interest, double score)
    {
        var title = _title ??= SearchTerms.Of(paper.Title).Select(t => t.Term).ToHashSet(StringComparer.Ordinal);
        var abstractTerms = _abstract ??= SearchTerms.Of(paper.Abstract).Select(t => t.Term).ToHashSet(StringComparer.Ordinal);
        return RelevanceReason.Explain(
            new RelevanceHit(new IndexedPaper(paper, default), score, score, 0, 0), [interest], "interest",
            terms => terms.Select(t => (title.Contains(t), abstractTerms.Contains(t))).ToArray());
    }
}

/// <summary>Reasons a person can read.</summary>
public static class Reasons
{
    public static string MatchesInterest(string interest, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"matches your interest '{interest}' (similarity {score:F2})");

    public static string ByFollowedAuthor(string author) => $"by {author}, whom you follow";

    public static string MatchesQuery(string query, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"matches '{query}' (similarity {score:F2})");

    public static string SimilarTo(string title, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"similar to '{title}' (similarity {score:F2})");
}
