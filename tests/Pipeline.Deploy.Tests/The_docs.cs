using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Deploy.Tests;

/// <summary>
/// README and docs/: links between them land on a heading, sections named in the text exist, and
/// docs/benchmarks.md keeps the reports the issues ask for. An edit that cut 1,400 lines of
/// benchmarks.md by mistake (28 Nov) left links and section names pointing at nothing.
/// </summary>
public sealed partial class The_docs
{
    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string> { "README.md" };
        foreach (var file in Directory.GetFiles(Repository.PathOf("docs"), "*.md").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Repository.Root, file).Replace('\\', '/'));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Link_to_files_and_headings_that_exist(string document)
    {
        var broken = new List<string>();
        var folder = Path.GetDirectoryName(Repository.PathOf(document))!;
        foreach (Match link in LocalLink().Matches(Repository.Read(document)))
        {
            var (path, anchor) = (link.Groups["path"].Value, link.Groups["anchor"].Value);
            var target = path.Length == 0 ? Repository.PathOf(document) : Path.GetFullPath(Path.Combine(folder, path));
            if (!File.Exists(target) && !Directory.Exists(target))
            {
                broken.Add($"{link.Value}: no {path}");
            }
            else if (anchor.Length > 0 && !Anchors(File.ReadAllText(target)).Contains(anchor))
            {
                broken.Add($"{link.Value}: no heading #{anchor} in {path}");
            }
        }

        Assert.Empty(broken);
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Name_only_sections_of_benchmarks_md_that_exist(string document)
    {
        var headings = Headings(Repository.Read("docs/benchmarks.md")).ToList();
        var missing = SectionReference().Matches(Repository.Read(document))
            .Select(m => m.Groups["name"].Value.ReplaceLineEndings(" "))
            .Where(name => !headings.Any(h => h.StartsWith(name, StringComparison.Ordinal)))
            .ToList();

        Assert.Empty(missing);
    }

    [Theory]
    [InlineData("Ingest")]
    [InlineData("Embed")]
    [InlineData("Rank: relevance")]
    [InlineData("Notify")]
    [InlineData("Load held (issue #7)")]
    public void Benchmarks_keep_a_part_for_each_service_and_the_load_test(string part)
    {
        Assert.Contains($"\n## {part}\n", Repository.Read("docs/benchmarks.md").ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void Benchmarks_report_ndcg_at_5_and_10_for_lexical_dense_and_hybrid()
    {
        // Issue #5: nDCG@5 and nDCG@10 of lexical only, dense only and hybrid, in one table.
        var relevance = Section(Repository.Read("docs/benchmarks.md"), "## Rank: relevance");
        var header = relevance.Split('\n').First(l => l.StartsWith("| mode |", StringComparison.Ordinal));
        Assert.Contains("nDCG@5", header, StringComparison.Ordinal);
        Assert.Contains("nDCG@10", header, StringComparison.Ordinal);
        foreach (var mode in new[] { "lexical", "dense", "hybrid" })
        {
            Assert.Matches($@"\n\| (\*\*)?{mode}[^\n]*\| (\*\*)?0\.\d{{3}}(\*\*)? \| (\*\*)?0\.\d{{3}}", relevance);
        }
    }

    [Fact]
    public void Anchors_are_made_as_github_makes_them()
    {
        var anchors = Anchors("# Search queries: int8, one per run\n## Load held (issue #7)\n```\n# not a heading\n```\n## Load held (issue #7)\n");

        Assert.Equal(["load-held-issue-7", "load-held-issue-7-1", "search-queries-int8-one-per-run"], anchors.Order(StringComparer.Ordinal));
    }

    /// <summary>GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        foreach (var heading in Headings(markdown))
        {
            var slug = new StringBuilder();
            foreach (var c in heading.ToLowerInvariant())
            {
                if (char.IsLetterOrDigit(c) || c is '-' or '_')
                {
                    slug.Append(c);
                }
                else if (c == ' ')
                {
                    slug.Append('-');
                }
            }

            var anchor = slug.ToString();
            for (var n = 1; !anchors.Add(anchor); n++)
            {
                anchor = $"{slug}-{n}";
            }
        }

        return anchors;
    }

    /// <summary>The text of every ATX heading outside fenced code.</summary>
    private static IEnumerable<string> Headings(string markdown)
    {
        var fenced = false;
        foreach (var line in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
            }
            else if (!fenced && HeadingLine().Match(line) is { Success: true } heading)
            {
                yield return heading.Groups["text"].Value.Trim();
            }
        }
    }

    /// <summary>From a level-2 heading to the next one.</summary>
    private static string Section(string markdown, string heading)
    {
        var text = markdown.ReplaceLineEndings("\n");
        var start = text.IndexOf($"\n{heading}\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no '{heading}'");
        var end = text.IndexOf("\n## ", start + heading.Length + 2, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
    }

    /// <summary>A Markdown link to something in the repository: [text](path#anchor), not a URL.</summary>
    [GeneratedRegex(@"\]\((?!https?:|mailto:)(?<path>[^)#\s]*)(?:#(?<anchor>[^)\s]+))?\)")]
    private static partial Regex LocalLink();

    /// <summary>A section named in prose: benchmarks.md "Name" or benchmarks.md, "Name".</summary>
    [GeneratedRegex(@"benchmarks\.md,?\s+""(?<name>[^""]+)""")]
    private static partial Regex SectionReference();

    [GeneratedRegex(@"^#{1,6}\s+(?<text>.+?)\s*#*$")]
    private static partial Regex HeadingLine();
}
