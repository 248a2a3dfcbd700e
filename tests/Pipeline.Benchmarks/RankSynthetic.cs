using System.Text;
using Pipeline.Contracts.Messages;
using Pipeline.Rank.Ranking;

namespace Pipeline.Benchmarks;

/// <summary>
/// Synthetic papers and subscribers for rank's benchmarks, deterministic for a seed. Vectors are
/// clustered unit vectors shaped like MiniLM's: topic centres that share a common direction
/// (sentence embeddings are not centred), papers scattered around a topic, so cosines are about 0.5
/// within a topic and 0.1 to 0.2 across. Titles and abstracts are drawn from a vocabulary per topic,
/// about as long as arXiv's (an abstract of ~1,000 characters), so the lexical index has real work.
/// </summary>
public sealed class RankSynthetic
{
    public const int Dimensions = PaperIndex.Dimensions;

    private static readonly string[] CommonWords =
        ["we", "propose", "a", "novel", "method", "for", "the", "of", "and", "in", "results", "show", "that", "our", "approach",
         "outperforms", "baselines", "on", "benchmark", "datasets", "with", "model", "learning", "data", "using", "based", "to", "is", "this", "paper"];

    private readonly Random _random;
    private readonly float[][] _centres;
    private readonly string[][] _topicWords;

    /// <param name="realWords">
    /// Topic vocabularies drawn from the words of the real papers in ../shared/data (so a query
    /// tokenises like English: a few word pieces a word, and words are shared between topics as in
    /// a real corpus). False draws random letter strings, as the runs before 26 Nov 17:50 did: the
    /// tokenizer cuts each into three to five word pieces, so a 4-word query was 15–20 word pieces
    /// and cost the model two to three times what a real one does. <c>RANK_SYNTHETIC_WORDS=random</c>
    /// selects it.
    /// </param>
    public RankSynthetic(int seed = 42, int topics = 500, bool? realWords = null)
    {
        _random = new Random(seed);
        var vocabulary = realWords ?? Environment.GetEnvironmentVariable("RANK_SYNTHETIC_WORDS") != "random" ? RealWords.Value : null;
        RealVocabulary = vocabulary is not null;
        var shared = Gaussian(new Random(seed ^ 0x5EED));
        _centres = new float[topics][];
        _topicWords = new string[topics][];
        for (var t = 0; t < topics; t++)
        {
            var centre = Gaussian(_random);
            for (var i = 0; i < Dimensions; i++)
            {
                centre[i] += 0.5f * shared[i];
            }

            _centres[t] = Normalise(centre);
            _topicWords[t] = Enumerable.Range(0, 40).Select(_ => vocabulary is null ? Word(_random) : vocabulary[_random.Next(vocabulary.Length)]).ToArray();
        }
    }

    public int Topics => _centres.Length;

    /// <summary>Whether topic words are real words (see the constructor).</summary>
    public bool RealVocabulary { get; }

    /// <summary>
    /// Distinct lowercase words of four letters or more from the titles and abstracts of the real
    /// papers in ../shared/data (the seed papers and the arXiv API responses, parsed by ingest's own
    /// parser), without the common words the generator mixes in anyway.
    /// </summary>
    private static readonly Lazy<string[]> RealWords = new(() =>
    {
        var texts = new List<string>(SeedPapers.Texts);
        // The error responses (malformed id, …) have no papers; only the feeds of papers are read.
        foreach (var file in Directory.GetFiles(SharedData.PathOf("arxiv-api"), "*.xml").Where(f => !Path.GetFileName(f).StartsWith("error-", StringComparison.Ordinal)))
        {
            using var stream = File.OpenRead(file);
            texts.AddRange(Pipeline.Ingest.Sources.Parsing.ArxivApiParser.Parse(stream).Papers.Select(p => $"{p.Title} {p.Abstract}"));
        }

        return texts
            .SelectMany(t => System.Text.RegularExpressions.Regex.Matches(t, "[A-Za-z]{4,}").Select(m => m.Value.ToLowerInvariant()))
            .Where(w => !CommonWords.Contains(w))
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToArray();
    });

    /// <summary>A unit vector near topic <paramref name="topic"/>; <paramref name="spread"/> 1 gives cosines of about 0.5 between two such.</summary>
    public float[] Near(int topic, float spread = 1f)
    {
        var noise = Gaussian(_random);
        var centre = _centres[topic];
        for (var i = 0; i < Dimensions; i++)
        {
            noise[i] = centre[i] + (spread * noise[i]);
        }

        return Normalise(noise);
    }

    public (IndexedPaper Paper, float[] Vector) Paper(int i, DateTimeOffset now)
    {
        var topic = _random.Next(_centres.Length);
        var words = _topicWords[topic];
        var title = Sentence(words, 8).TrimEnd('.');
        var abstractText = new StringBuilder();
        while (abstractText.Length < 1_000)
        {
            abstractText.Append(Sentence(words, 18)).Append(' ');
        }

        var published = now.AddHours(-_random.Next(24 * 60));
        var summary = new PaperSummary(
            $"2611.{i:D5}", 1, title, abstractText.ToString().TrimEnd(),
            [$"Author {_random.Next(50_000)}", $"Author {_random.Next(50_000)}", $"Author {_random.Next(50_000)}"],
            [$"cs.{(char)('A' + (topic % 20))}{(char)('A' + (topic % 7))}"],
            published, $"https://arxiv.org/abs/2611.{i:D5}", "arxiv-api", _random.Next(0, 200));
        return (new IndexedPaper(summary, published.AddMinutes(30)), Near(topic));
    }

    /// <summary>A subscriber with one to five interests, each near a topic, and its interest texts.</summary>
    public SubscriberProfile Subscriber(int i, string cadence, DateTimeOffset now)
    {
        var count = 1 + _random.Next(5);
        var topics = Enumerable.Range(0, count).Select(_ => _random.Next(_centres.Length)).ToArray();
        return new SubscriberProfile(
            $"sub-{i:D5}",
            topics.Select(t => Sentence(_topicWords[t], 3).TrimEnd('.')).ToArray(),
            topics.Select(t => Near(t, 0.8f)).ToArray(),
            cadence,
            0.6,
            now);
    }

    /// <summary>A query text from a topic's vocabulary (for Search through the real embedder).</summary>
    public string QueryText() => Sentence(_topicWords[_random.Next(_centres.Length)], 4).TrimEnd('.');

    /// <summary>A query vector near a random topic, a little further out than papers.</summary>
    public float[] QueryVector() => Near(_random.Next(_centres.Length), 1.2f);

    private string Sentence(string[] topicWords, int length)
    {
        var sb = new StringBuilder();
        for (var w = 0; w < length; w++)
        {
            sb.Append(w == 0 ? "" : " ").Append(_random.Next(3) == 0 ? CommonWords[_random.Next(CommonWords.Length)] : topicWords[_random.Next(topicWords.Length)]);
        }

        sb[0] = char.ToUpperInvariant(sb[0]);
        return sb.Append('.').ToString();
    }

    private static string Word(Random random)
    {
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        var length = 4 + random.Next(8);
        return string.Create(length, random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = letters[r.Next(letters.Length)];
            }
        });
    }

    private static float[] Gaussian(Random random)
    {
        var v = new float[Dimensions];
        var sigma = 1 / MathF.Sqrt(Dimensions);
        for (var i = 0; i < v.Length; i++)
        {
            var u1 = 1 - random.NextDouble();
            var u2 = random.NextDouble();
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)) * sigma;
        }

        return v;
    }

    private static float[] Normalise(float[] v)
    {
        var norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(v, v));
        System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
        return v;
    }
}
