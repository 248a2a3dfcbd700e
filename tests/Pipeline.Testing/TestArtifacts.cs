namespace Pipeline.Testing;

/// <summary>
/// Where fixtures put their data and logs: one folder per test process under
/// <c>$PIPELINE_TEST_ARTIFACTS</c> (default <c>/tmp/pipeline-tests</c>), named by start time and pid.
/// Data folders are deleted when a fixture is disposed; logs stay for diagnosis, and run folders
/// older than a day are pruned when the next run starts. Set <c>PIPELINE_TEST_KEEP=1</c> to keep data too.
/// </summary>
public static class TestArtifacts
{
    private static readonly Lazy<string> RunDir = new(CreateRunDirectory);

    /// <summary>The root of all runs.</summary>
    public static string Root { get; } =
        Environment.GetEnvironmentVariable("PIPELINE_TEST_ARTIFACTS") is { Length: > 0 } root
            ? root
            : Path.Combine(Path.GetTempPath(), "pipeline-tests");

    /// <summary>This test process's folder.</summary>
    public static string RunDirectory => RunDir.Value;

    /// <summary>True when data folders should be kept after the fixtures are disposed.</summary>
    public static bool KeepData => Environment.GetEnvironmentVariable("PIPELINE_TEST_KEEP") is "1" or "true";

    /// <summary>A new, empty folder inside this run's folder, named <paramref name="prefix"/> plus a short random suffix.</summary>
    public static string NewDirectory(string prefix)
    {
        var path = Path.Combine(RunDirectory, $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Deletes a folder tree, ignoring errors (a process may still be writing its last lines).</summary>
    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string CreateRunDirectory()
    {
        Directory.CreateDirectory(Root);
        PruneOldRuns();
        var path = Path.Combine(Root, $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static void PruneOldRuns()
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(Root))
            {
                if (Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddDays(-1))
                {
                    TryDelete(dir);
                }
            }
        }
        catch (IOException)
        {
        }
    }
}
