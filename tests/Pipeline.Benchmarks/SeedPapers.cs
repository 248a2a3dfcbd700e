using System.Text.Json;
using Pipeline.Contracts.Messages;

namespace Pipeline.Benchmarks;

/// <summary>The 52 papers of ../shared/data/seed/trending-papers.json as embed sees them ("title. abstract").</summary>
public static class SeedPapers
{
    public static string[] Texts { get; } = Load();

    private static string[] Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(SharedData.PathOf("seed/trending-papers.json")));
        return document.RootElement.EnumerateArray()
            .Select(p => PaperText.Of(p.GetProperty("title").GetString(), p.GetProperty("abstract").GetString()))
            .ToArray();
    }
}
