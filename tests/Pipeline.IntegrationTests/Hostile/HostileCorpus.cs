using System.Text.Json;

namespace Pipeline.IntegrationTests.Hostile;

/// <summary>The files of tests/HostileInputs (listed in its README), beside the test assembly.</summary>
public static class HostileCorpus
{
    public static string PathOf(string relative) => Path.Combine(AppContext.BaseDirectory, "HostileInputs", relative);

    public static byte[] Bytes(string relative) => File.ReadAllBytes(PathOf(relative));

    /// <summary>A string of strings.json: <paramref name="group"/> (addresses, titles, ...) and its name.</summary>
    public static string String(string group, string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(PathOf("strings.json")));
        return json.RootElement.GetProperty(group).GetProperty(name).GetString()!;
    }

    /// <summary>The names of a group of strings.json, for a theory.</summary>
    public static IEnumerable<object[]> Names(string group)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(PathOf("strings.json")));
        return json.RootElement.GetProperty(group).EnumerateObject().Select(p => new object[] { p.Name }).ToArray();
    }
}
