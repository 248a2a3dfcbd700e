using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Pipeline.ServiceDefaults;
using Pipeline.Testing;

namespace Pipeline.Rank.Tests;

/// <summary>
/// Rank's resident memory (400 MB at 100,000 papers, issue #5) depends on settings outside the code:
/// the runtime's configuration that the build writes beside the service, and the service's own
/// appsettings. The benchmarks measured these values (docs/benchmarks.md, "Sweeping sooner"); these
/// specs fail when one of them is dropped or changed without measuring again.
/// </summary>
public class When_rank_is_started_as_shipped
{
    [Fact]
    public void Its_runtime_caps_the_young_generation_and_collects_in_the_background()
    {
        // The service's built runtimeconfig, as `dotnet Pipeline.Rank.dll` and the image read it.
        var path = Path.ChangeExtension(RepoPaths.ServiceDll("Pipeline.Rank"), ".runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.Equal(16 * 1024 * 1024, properties.GetProperty("System.GC.Gen0MaxBudget").GetInt64());
        Assert.False(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.True(properties.GetProperty("System.GC.Concurrent").GetBoolean());
    }

    [Fact]
    public void Its_settings_sweep_the_old_generation_after_4_MB_of_growth()
    {
        var settings = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(RepoPaths.RepoRoot, "services", "Pipeline.Rank", "appsettings.json"))
            .Build();

        var sweep = OldGenerationSweeper.From(settings);

        Assert.NotNull(sweep);
        Assert.Equal(4_000_000, sweep.AfterBytes);
        // The other services keep the default.
        Assert.Equal(16_000_000, OldGenerationSweeper.From(new ConfigurationBuilder().Build())!.AfterBytes);
    }
}
