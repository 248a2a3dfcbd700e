using System.Text.Json;
using Pipeline.Contracts.Messages;

namespace Pipeline.Embed.Tests;

/// <summary>The 52 papers of ../shared/data/seed/trending-papers.json (beside the repository) as embed's text.</summary>
public static class SeedPapers
{
    private static readonly Lazy<string[]> Loaded = new(Load);

    public static string[] Texts => Loaded.Value;

    /// <summary>Whether ../shared/data/seed/trending-papers.json is beside the repository.</summary>
    public static bool ArePresent => FilePath() is not null;

    private static string? FilePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var file = Path.Combine(dir.FullName, "..", "shared", "data", "seed", "trending-papers.json");
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")) && File.Exists(file))
            {
                return file;
            }
        }

        return null;
    }

    private static string[] Load()
    {
        var file = FilePath() ?? throw new FileNotFoundException("../shared/data/seed/trending-papers.json was not found beside the repository.");
        using var document = JsonDocument.Parse(File.ReadAllText(file));
        return document.RootElement.EnumerateArray()
            .Select(p => PaperText.Of(p.GetProperty("title").GetString(), p.GetProperty("abstract").GetString()))
            .ToArray();
    }
}

/// <summary>A fact that embeds <see cref="SeedPapers"/>: skipped, and says so, where ../shared/data is absent.</summary>
public sealed class SeedPapersFactAttribute : FactAttribute
{
    public SeedPapersFactAttribute()
    {
        if (!SeedPapers.ArePresent)
        {
            Skip = "Skipped: ../shared/data/seed (real papers) is absent beside the repository.";
        }
    }
}
