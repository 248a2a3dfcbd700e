using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml;
using Pipeline.Contracts.Messages;
using Pipeline.Embed.Embedding;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Rank.Tests.Relevance;

/// <summary>A query of the judged set: its grades per paper id (2 on topic, 1 partly, unlisted 0).</summary>
public sealed record JudgedQuery(string Id, string Kind, string Text, IReadOnlyDictionary<string, int> Relevant);

/// <summary>
/// The papers of ../shared/data (100 arXiv API entries and the 52 seed papers), embedded once with
/// the real MiniLM model the way embed embeds them, in a <see cref="PaperIndex"/>, plus the judged
/// queries of judgments.json and their vectors.
/// </summary>
public sealed partial class JudgedCorpus : IDisposable
{
    private const string Atom = "http://www.w3.org/2005/Atom";

    private readonly MiniLmEmbedder? _embedder;

    public JudgedCorpus()
    {
        var root = RepositoryRoot();
        var data = Path.GetFullPath(Path.Combine(root, "..", "shared", "data"));
        Queries = LoadJudgments(Path.Combine(root, "tests", "Pipeline.Rank.Tests", "Relevance", "judgments.json"));
        if (!Directory.Exists(data))
        {
            MissingData = $"skipped: the judged corpus needs {data}, which is absent";
            return;
        }

        Papers = [.. LoadArxiv(Path.Combine(data, "arxiv-api", "query-testing-start0-max100.xml")), .. LoadSeed(Path.Combine(data, "seed", "trending-papers.json"))];
        _embedder = new MiniLmEmbedder(new EmbeddingOptions { IntraOpThreads = 2, MaxBatchSize = 16 });
        var vectors = _embedder.Embed(Papers.Select(p => PaperText.Of(p.Paper.Title, p.Paper.Abstract)).ToArray());
        PaperVectors = vectors;
        for (var i = 0; i < Papers.Count; i++)
        {
            Index.Upsert(Papers[i], vectors[i]);
        }

        var queryVectors = _embedder.Embed(Queries.Select(q => q.Text).ToArray());
        QueryVectors = Queries.Select((q, i) => (q.Id, queryVectors[i])).ToDictionary(x => x.Id, x => x.Item2);
    }

    /// <summary>Why the corpus could not be loaded, or null when it was.</summary>
    public string? MissingData { get; }

    public IReadOnlyList<IndexedPaper> Papers { get; } = [];

    public PaperIndex Index { get; } = new();

    /// <summary>The fp32 vector of each of <see cref="Papers"/>, in the same order.</summary>
    public IReadOnlyList<float[]> PaperVectors { get; } = [];

    public IReadOnlyList<JudgedQuery> Queries { get; }

    public IReadOnlyDictionary<string, float[]> QueryVectors { get; } = new Dictionary<string, float[]>();

    public MiniLmEmbedder Embedder => _embedder ?? throw new InvalidOperationException(MissingData);

    /// <summary>A ranker over the corpus, the way rank builds one: every paper added as it is upserted.</summary>
    public RelevanceRanker Ranker(RelevanceOptions? options = null)
    {
        var ranker = new RelevanceRanker(Index, options);
        foreach (var paper in Papers)
        {
            ranker.Add(paper);
        }

        return ranker;
    }

    public RelevanceQuery QueryOf(JudgedQuery query) => new(query.Text, QueryVectors[query.Id]);

    public void Dispose() => _embedder?.Dispose();

    /// <summary>The folder that holds Pipeline.sln, found by walking up from the test binaries.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Pipeline.sln above {AppContext.BaseDirectory}.");
    }

    private static IReadOnlyList<JudgedQuery> LoadJudgments(string path)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        return json.RootElement.GetProperty("queries").EnumerateArray()
            .Select(q => new JudgedQuery(
                q.GetProperty("id").GetString()!,
                q.GetProperty("kind").GetString()!,
                q.GetProperty("text").GetString()!,
                q.GetProperty("relevant").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32())))
            .ToArray();
    }

    /// <summary>Entries of an arXiv API answer (Atom): versionless id, title and abstract.</summary>
    private static IEnumerable<IndexedPaper> LoadArxiv(string path)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null, IgnoreWhitespace = true };
        using var reader = XmlReader.Create(path, settings);
        var papers = new List<IndexedPaper>();
        while (reader.ReadToFollowing("entry", Atom))
        {
            string? id = null, title = null, summary = null;
            using var entry = reader.ReadSubtree();
            entry.Read();
            while (entry.Read())
            {
                if (entry.NodeType != XmlNodeType.Element || entry.NamespaceURI != Atom || entry.Depth != 1)
                {
                    continue;
                }

                switch (entry.LocalName)
                {
                    case "id": id = entry.ReadElementContentAsString(); break;
                    case "title": title = entry.ReadElementContentAsString(); break;
                    case "summary": summary = entry.ReadElementContentAsString(); break;
                }
            }

            if (id is not null)
            {
                var versionless = ArxivVersion().Replace(id[(id.IndexOf("/abs/", StringComparison.Ordinal) + 5)..].Trim(), "");
                papers.Add(Paper(versionless, title, summary, "arxiv"));
            }
        }

        return papers;
    }

    private static IEnumerable<IndexedPaper> LoadSeed(string path)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        return json.RootElement.EnumerateArray()
            .Select((p, i) => Paper($"seed-{i}", p.GetProperty("title").GetString(), p.GetProperty("abstract").GetString(), "seed"))
            .ToArray();
    }

    private static IndexedPaper Paper(string id, string? title, string? @abstract, string source) =>
        new(new PaperSummary(id, 1, Collapse(title), Collapse(@abstract), [], [], null, $"https://arxiv.org/abs/{id}", source, 0), DateTimeOffset.UnixEpoch);

    private static string Collapse(string? text) => string.Join(' ', (text ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    [GeneratedRegex(@"v\d+$")]
    private static partial Regex ArxivVersion();
}

/// <summary>
/// A fact over the judged corpus: skipped, and reported as skipped rather than passed, where
/// ../shared/data is absent beside the repository.
/// </summary>
public sealed class JudgedCorpusFactAttribute : FactAttribute
{
    public JudgedCorpusFactAttribute()
    {
        if (Pipeline.Testing.RepoPaths.SharedDataFolder is null)
        {
            Skip = "Skipped: the judged corpus reads ../shared/data, which is absent beside the repository.";
        }
    }
}
