namespace Pipeline.Notify.Tests;

/// <summary>The real recorded data in ../shared/data, found by walking up to the folder with Pipeline.sln.</summary>
internal static class SharedData
{
    private static readonly Lazy<string?> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                var data = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
                return Directory.Exists(data) ? data : null;
            }
        }

        return null;
    });

    public static bool IsPresent => Root.Value is not null;

    public static string PathOf(string relative) =>
        Path.Combine(Root.Value ?? throw new DirectoryNotFoundException("../shared/data is absent."), relative);
}

/// <summary>A fact that reads ../shared/data: skipped, and says so, where that folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (!SharedData.IsPresent)
        {
            Skip = "Skipped: ../shared/data (real recorded responses) is absent beside the repository.";
        }
    }
}
