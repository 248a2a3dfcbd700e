using Pipeline.Testing;

namespace Pipeline.Notify.Tests;

/// <summary>The real recorded data in ../shared/data (<see cref="RepoPaths.SharedDataFolder"/>).</summary>
internal static class SharedData
{
    public static bool IsPresent => RepoPaths.SharedDataFolder is not null;

    public static string PathOf(string relative) =>
        Path.Combine(RepoPaths.SharedDataFolder ?? throw new DirectoryNotFoundException("../shared/data is absent."), relative);
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
