using System.Text;
using Pipeline.Ingest.Sources.Parsing;

namespace Pipeline.Ingest.Tests.Sources;

public class JsonLinesReaderSpecs
{
    private static async Task<List<JsonLine>> Read(string text, long offset = 0, long line = 1, int maxLineBytes = 1024)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var stream = new MemoryStream(bytes);
        stream.Seek(offset, SeekOrigin.Begin);
        var lines = new List<JsonLine>();
        await foreach (var l in JsonLinesReader.ReadAsync(stream, "jsonl", offset, line, maxLineBytes))
        {
            lines.Add(l);
        }

        return lines;
    }

    private const string Good1 = """{"id": "2410.17243v2", "title": "One", "abstract": "A", "authors": ["Ada"], "publishedAt": "2024-10-22T00:00:00Z"}""";
    private const string Good2 = """{"id": "2410.00002", "title": "Two", "abstract": "B", "published_at": "2024-10-21T00:00:00Z", "unknownField": 1}""";

    [Fact]
    public async Task Each_line_is_a_paper_and_a_bad_line_is_rejected_alone_with_its_number()
    {
        var lines = await Read($"{Good1}\n{{not json\n\n{Good2}\n");

        Assert.Equal(3, lines.Count);
        Assert.Equal(("2410.17243v2", "jsonl"), (lines[0].Paper!.Id, lines[0].Paper!.Source));
        Assert.Null(lines[1].Paper);
        Assert.Equal(2, lines[1].LineNumber);
        Assert.StartsWith("not a paper in JSON", lines[1].Rejection);
        Assert.Equal(4, lines[2].LineNumber);
        Assert.Equal(new DateTimeOffset(2024, 10, 21, 0, 0, 0, TimeSpan.Zero), lines[2].Paper!.PublishedAt);
    }

    [Fact]
    public async Task A_line_longer_than_the_bound_is_rejected_without_being_kept()
    {
        var huge = "{\"id\": \"2410.17243\", \"title\": \"" + new string('x', 5_000) + "\"}";
        var lines = await Read($"{huge}\n{Good2}\n", maxLineBytes: 1024);

        Assert.Equal((1L, "longer than 1024 bytes"), (lines[0].LineNumber, lines[0].Rejection));
        Assert.Equal("2410.00002", lines[1].Paper!.Id);
    }

    [Fact]
    public async Task Reading_resumes_at_a_saved_offset_and_line_number()
    {
        var text = $"{Good1}\n{Good2}\n";
        var first = await Read(text);
        var resumed = await Read(text, first[0].EndOffset, 2);

        var only = Assert.Single(resumed);
        Assert.Equal((2L, "2410.00002"), (only.LineNumber, only.Paper!.Id));
    }

    [Fact]
    public async Task An_unterminated_half_written_last_line_is_left_for_the_next_read()
    {
        var lines = await Read($"{Good1}\n{{\"id\": \"2410.0");
        Assert.Single(lines);
        Assert.Equal(Encoding.UTF8.GetByteCount(Good1) + 1, lines[0].EndOffset);
    }
}
