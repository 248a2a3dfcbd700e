using System.Xml.Linq;
using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Benchmarks;

/// <summary>
/// Parsing the real 100-entry arXiv API response (query-testing-start0-max100.xml, 231 KB):
/// ingest's streaming parser (one entry in memory at a time) against loading the whole document
/// into an XDocument first and mapping the same entries. Target: 2,000 papers/s or more on one core.
/// </summary>
[MemoryDiagnoser]
public class IngestParsing
{
    private byte[] _body = [];

    [GlobalSetup]
    public void Load() => _body = File.ReadAllBytes(SharedData.PathOf("arxiv-api/query-testing-start0-max100.xml"));

    [Benchmark(Baseline = true, Description = "XDocument.Load, then map (100 papers)")]
    public int WholeDocument()
    {
        using var stream = new MemoryStream(_body, writable: false);
        using var reader = SafeXml.Create(stream);
        var document = XDocument.Load(reader);
        var papers = new List<PaperSubmission>();
        foreach (var entry in document.Root!.Elements(XName.Get("entry", "http://www.w3.org/2005/Atom")))
        {
            papers.Add(ArxivApiParser.ToSubmission(entry, "arxiv-api"));
        }

        return papers.Count;
    }

    [Benchmark(Description = "ArxivApiParser, streaming (100 papers)")]
    public int Streaming()
    {
        using var stream = new MemoryStream(_body, writable: false);
        return ArxivApiParser.Parse(stream).Papers.Count;
    }

    [Benchmark(Description = "ArxivApiParser + PaperValidator (100 papers)")]
    public int StreamingAndValidated()
    {
        using var stream = new MemoryStream(_body, writable: false);
        var valid = 0;
        foreach (var paper in ArxivApiParser.Parse(stream).Papers)
        {
            if (PaperValidator.Validate(paper).Paper is not null)
            {
                valid++;
            }
        }

        return valid;
    }
}
