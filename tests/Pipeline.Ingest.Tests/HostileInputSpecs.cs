using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Pipeline.Ingest.Papers;
using Pipeline.Ingest.Sources.Parsing;
using Pipeline.Ingest.Tests.Sources;

namespace Pipeline.Ingest.Tests;

/// <summary>The files of tests/HostileInputs (listed in its README), beside the test assembly.</summary>
internal static class HostileCorpus
{
    public static string PathOf(string relative) => Path.Combine(AppContext.BaseDirectory, "HostileInputs", relative);

    public static byte[] Bytes(string relative) => File.ReadAllBytes(PathOf(relative));

    /// <summary>A string of strings.json: <paramref name="group"/> (addresses, titles, ...) and its name.</summary>
    public static string String(string group, string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(PathOf("strings.json")));
        return json.RootElement.GetProperty(group).GetProperty(name).GetString()!;
    }

    /// <summary>An entry whose title nests <paramref name="depth"/> elements (generated: 100,000 levels are 700 KB).</summary>
    public static string DeeplyNestedFeed(int depth) =>
        "<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom'><entry><id>http://arxiv.org/abs/2410.17243v1</id><title>"
        + string.Concat(Enumerable.Repeat("<b>", depth)) + "deep" + string.Concat(Enumerable.Repeat("</b>", depth))
        + "</title><summary>s</summary></entry></feed>";
}

/// <summary>
/// The hostile input corpus fed to ingest's parsers and to its validation, where source bodies
/// and submitted papers enter: each input is refused with a reason, quickly, and nothing of it is
/// expanded, fetched or read from disk.
/// </summary>
public class HostileInputSpecs
{
    // Something every /etc/passwd holds, read from this machine, so no test passes by luck.
    private static readonly string PasswdLine = File.Exists("/etc/passwd") ? File.ReadLines("/etc/passwd").First() : "root:x:0:0:";

    [Theory]
    [InlineData("xml/billion-laughs.atom.xml", "undeclared entity 'lol9'")]
    [InlineData("xml/quadratic-blowup.atom.xml", "undeclared entity 'a'")]
    [InlineData("xml/xxe-file.atom.xml", "undeclared entity 'xxe'")]
    [InlineData("xml/invalid-utf8.atom.xml", "Invalid character in the given encoding")]
    [InlineData("xml/nul-reference.atom.xml", "0x00, is an invalid character")]
    public void A_hostile_xml_body_is_refused_as_a_whole_by_both_feed_parsers_with_the_reason(string file, string reason)
    {
        var body = HostileCorpus.Bytes(file);
        var watch = Stopwatch.StartNew();

        var api = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(new MemoryStream(body)));
        // The listing parser reads the same body the same way (it refuses the Atom feed's content, or its root).
        var listing = Record.Exception(() => ArxivListingParser.Parse(new MemoryStream(body)));

        Assert.Contains(reason, api.Message);
        Assert.IsType<FeedFormatException>(listing);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}"); // the flaw took minutes; 15 s leaves room for a busy CI machine
        Assert.DoesNotContain("lollol", api.ToString());
        Assert.DoesNotContain("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", api.ToString());
        Assert.DoesNotContain(PasswdLine, api.ToString() + listing!.ToString());
    }

    [Fact]
    public async Task An_external_entity_on_an_http_address_is_refused_and_the_address_is_never_requested()
    {
        await using var listener = await LocalHttpServer.StartAsync(ctx => ctx.Response.WriteAsync("<!ENTITY leaked 'LEAKED'>"));
        var body = Encoding.UTF8.GetBytes(File.ReadAllText(HostileCorpus.PathOf("xml/xxe-http.atom.xml")).Replace("{{XXE_URL}}", listener.BaseUrl));

        var error = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(new MemoryStream(body)));

        Assert.Contains("undeclared entity 'xxe'", error.Message);
        await Task.Delay(200);
        Assert.Empty(listener.Requests);
    }

    [Fact]
    public void An_entry_nested_100000_elements_deep_is_refused_at_once_instead_of_taking_minutes()
    {
        // XNode.ReadFrom took time in the square of the depth: 40,000 levels took 7 s, 100,000 minutes.
        var body = Encoding.UTF8.GetBytes(HostileCorpus.DeeplyNestedFeed(100_000));
        var watch = Stopwatch.StartNew();

        var error = Assert.Throws<FeedFormatException>(() => ArxivApiParser.Parse(new MemoryStream(body)));

        Assert.Contains($"more than {SafeXml.MaxEntryDepth} levels deep", error.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}"); // the flaw took minutes; 15 s leaves room for a busy CI machine
    }

    [Fact]
    public void An_entry_with_nesting_attributes_and_cdata_within_the_limit_reads_as_before()
    {
        var title = string.Concat(Enumerable.Repeat("<b class='x'>", SafeXml.MaxEntryDepth - 2)) + "Deep <![CDATA[<and> & cdata]]> title"
            + string.Concat(Enumerable.Repeat("</b>", SafeXml.MaxEntryDepth - 2));
        var feed = Fixtures.ArxivFeed(Fixtures.ArxivEntry(title: title));

        var paper = Assert.Single(ArxivApiParser.Parse(Fixtures.Stream(feed)).Papers);

        Assert.Equal("Deep <and> & cdata title", paper.Title);
        Assert.Equal("https://arxiv.org/pdf/2410.17243v2", paper.Metadata!.PdfUrl);
        Assert.Equal(["cs.CL", "cs.LG"], paper.Categories);
    }

    [Fact]
    public void Hostile_items_of_a_hugging_face_day_are_each_refused_with_a_reason_and_the_good_one_is_taken()
    {
        var feed = HuggingFaceDailyParser.Parse(HostileCorpus.Bytes("json/hf-hostile-items.json"), new DateOnly(2024, 10, 23));

        // Unreadable text (invalid UTF-8, lone surrogates) is refused by the parser, item by item...
        Assert.Equal(["item 2", "item 3", "item 4"], feed.Rejections.Select(r => r.Entry));
        Assert.Contains("invalid UTF-8", feed.Rejections[0].Reason, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("surrogate", feed.Rejections[1].Reason + feed.Rejections[2].Reason);
        // ...and text that reads but would mislead a reader (NUL, a bidi override) by validation.
        var outcomes = feed.Papers.ToDictionary(p => p.Id!, p => PaperValidator.Validate(p).Reason);
        Assert.Equal(["2410.90001", "2410.90005", "2410.90006"], outcomes.Keys);
        Assert.Null(outcomes["2410.90001"]);
        Assert.Equal("title has the control character U+0000", outcomes["2410.90005"]);
        Assert.Equal("title has the bidirectional control U+202E", outcomes["2410.90006"]);
    }

    [Fact]
    public void A_hugging_face_body_nested_100000_deep_is_refused_as_a_whole()
    {
        var body = Encoding.UTF8.GetBytes(new string('[', 100_000) + new string(']', 100_000));

        var error = Assert.Throws<FeedFormatException>(() => HuggingFaceDailyParser.Parse(body, null));

        Assert.Contains("maximum configured depth of 32", error.Message);
    }

    [Fact]
    public async Task Each_hostile_line_of_a_json_lines_file_is_rejected_alone_with_its_number_and_reason()
    {
        var lines = new List<JsonLine>();
        await foreach (var line in JsonLinesReader.ReadAsync(File.OpenRead(HostileCorpus.PathOf("jsonl/hostile.jsonl")), "jsonl"))
        {
            lines.Add(line);
        }

        string Outcome(JsonLine l) => l.Paper is { } p ? PaperValidator.Validate(p).Reason ?? "accepted" : l.Rejection!;
        var outcomes = lines.ToDictionary(l => l.LineNumber, Outcome);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), outcomes.Keys);
        Assert.Equal("accepted", outcomes[1]);
        Assert.StartsWith("not valid UTF-8", outcomes[2]);
        Assert.Contains("surrogate", outcomes[3]);
        Assert.Equal("title has the control character U+0000", outcomes[4]);
        Assert.Equal("title has the bidirectional control U+202E", outcomes[5]);
        Assert.Contains("maximum configured depth of 32", outcomes[6]);
        Assert.StartsWith("not a paper in JSON", outcomes[7]);
        Assert.Equal("accepted", outcomes[8]);
    }

    [Theory]
    [InlineData("nul", "title has the control character U+0000")]
    [InlineData("bell", "title has the control character U+0007")]
    [InlineData("bidi-override", "title has the bidirectional control U+202E")]
    [InlineData("bidi-isolate", "title has the bidirectional control U+2067")]
    public void A_title_that_would_mislead_a_reader_is_rejected_with_the_character_named(string name, string reason)
    {
        var paper = Submission(title: HostileCorpus.String("unprintable-titles", name));

        Assert.Equal(reason, PaperValidator.Validate(paper).Reason);
    }

    [Theory]
    [InlineData("arabic-indic-version")]
    [InlineData("arabic-indic-digits")]
    [InlineData("fullwidth-old-style")]
    [InlineData("devanagari-version")]
    public void An_id_written_with_digits_other_than_0_to_9_is_rejected_with_a_reason_and_throws_nothing(string name)
    {
        // .NET's \d matches every Unicode digit; int.Parse reads only 0-9 and threw out of validation.
        var id = HostileCorpus.String("ids", name);

        var validation = PaperValidator.Validate(Submission(id: id));

        Assert.Null(validation.Paper);
        Assert.StartsWith($"id '{id}' is neither an arXiv id", validation.Reason);
        Assert.False(ArxivIds.TryParse("http://arxiv.org/abs/" + id, out _, out _));
    }

    [Fact]
    public void Lone_surrogates_and_control_characters_are_rejected_in_abstracts_and_authors_too()
    {
        // Lone surrogates cannot be written in strings.json (a JSON reader refuses them), so here.
        Assert.Equal("abstract has a lone surrogate U+D800 (not valid Unicode)", PaperValidator.Validate(Submission(abstractText: "An \ud800 abstract")).Reason);
        Assert.Equal("title has a lone surrogate U+DC00 (not valid Unicode)", PaperValidator.Validate(Submission(title: "\udc00 first")).Reason);
        Assert.Equal("author 'Eve ?' has the control character U+0000", PaperValidator.Validate(Submission(authors: ["Ada", "Eve \0"])).Reason);
        // A pair is a character like any other.
        Assert.Null(PaperValidator.Validate(Submission(title: "Emoji \ud83d\ude00 and 量子 in a title")).Reason);
    }

    [Fact]
    public void A_header_injection_in_a_title_is_folded_to_one_line_of_text()
    {
        var validation = PaperValidator.Validate(Submission(title: HostileCorpus.String("titles", "header-injection")));

        Assert.Equal("Listening to honeybee hives Bcc: eve@example.org X-Injected: yes", validation.Paper!.Title);
    }

    private static PaperSubmission Submission(string title = "A title", string abstractText = "An abstract.", string[]? authors = null, string id = "2410.17243") =>
        new(id, 1, title, abstractText, authors ?? ["Ada Lovelace"], ["cs.LG"], null, null, "api", 0);
}
