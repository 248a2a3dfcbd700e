using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Deploy.Tests;

/// <summary>
/// docker-compose.yml as YAML nodes, with anchors and merge keys (<c>&lt;&lt;: *x</c>) resolved the
/// way Compose resolves them.
/// </summary>
internal sealed class ComposeFile
{
    public const string FileName = "docker-compose.yml";

    /// <summary>The four services of the pipeline, in start order: consumers before publishers.</summary>
    public static readonly string[] PipelineServices = ["notify", "embed", "rank", "ingest"];

    private ComposeFile(YamlMappingNode root) => Root = root;

    public YamlMappingNode Root { get; }

    public YamlMappingNode Services => (YamlMappingNode)Root["services"];

    public static ComposeFile Load() => Parse(Repository.Read(FileName));

    public static ComposeFile Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new MergingParser(new Parser(new StringReader(yaml))));
        return new ComposeFile((YamlMappingNode)stream.Documents.Single().RootNode);
    }

    public static string RedisOf(string service) => $"redis-{service}";

    public IEnumerable<string> ServiceNames => Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    public YamlMappingNode Service(string name) =>
        Services.Children.TryGetValue(new YamlScalarNode(name), out var node)
            ? (YamlMappingNode)node
            : throw new Xunit.Sdk.XunitException($"{FileName} has no service '{name}'.");

    /// <summary>The service's environment, from either the mapping or the list form.</summary>
    public IReadOnlyDictionary<string, string> Environment(string service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Child(Service(service), "environment") is not { } env)
        {
            return result;
        }

        switch (env)
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                {
                    result[Scalar(key)] = value is YamlScalarNode s ? s.Value ?? "" : "";
                }

                break;
            case YamlSequenceNode list:
                foreach (var item in list.Children.Select(Scalar))
                {
                    var eq = item.IndexOf('=');
                    result[eq < 0 ? item : item[..eq]] = eq < 0 ? "" : item[(eq + 1)..];
                }

                break;
        }

        return result;
    }

    /// <summary>Published ports in the short syntax: [host_ip:][published:]target[/protocol].</summary>
    /// <summary>The port entries as written, variables unresolved.</summary>
    public IReadOnlyList<string> RawPorts(string service) =>
        Child(Service(service), "ports") is YamlSequenceNode ports ? ports.Children.Select(Scalar).ToList() : [];

    public IReadOnlyList<PortMapping> Ports(string service) =>
        Child(Service(service), "ports") is YamlSequenceNode ports
            ? ports.Children.Select(p => PortMapping.Parse(Scalar(p))).ToList()
            : [];

    /// <summary>depends_on as service → condition (service_started for the list form).</summary>
    public IReadOnlyDictionary<string, string> DependsOn(string service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(Service(service), "depends_on"))
        {
            case YamlSequenceNode list:
                foreach (var name in list.Children.Select(Scalar))
                {
                    result[name] = "service_started";
                }

                break;
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                {
                    var condition = value is YamlMappingNode m && Child(m, "condition") is YamlScalarNode c ? c.Value! : "service_started";
                    result[Scalar(key)] = condition;
                }

                break;
        }

        return result;
    }

    /// <summary>The command as one string, from either the list or the string form.</summary>
    public string Command(string service) => Child(Service(service), "command") switch
    {
        YamlSequenceNode list => string.Join(' ', list.Children.Select(Scalar)),
        YamlScalarNode s => s.Value ?? "",
        _ => "",
    };

    public static YamlNode? Child(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static string Scalar(YamlNode node) => node is YamlScalarNode s
        ? s.Value ?? ""
        : throw new Xunit.Sdk.XunitException($"Expected a scalar at {node.Start}, found {node.NodeType}.");
}

internal sealed record PortMapping(string? HostIp, int? Published, int Target)
{
    public static PortMapping Parse(string text)
    {
        // "${PUBLISH_ADDRESS:-127.0.0.1}:5101:5101" as compose resolves it with the variable unset.
        var spec = System.Text.RegularExpressions.Regex.Replace(text.Split('/')[0], @"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", "$1");
        var parts = spec.Split(':');
        return parts.Length switch
        {
            1 => new PortMapping(null, null, int.Parse(parts[0])),
            2 => new PortMapping(null, ParseOptional(parts[0]), int.Parse(parts[1])),
            3 => new PortMapping(parts[0], ParseOptional(parts[1]), int.Parse(parts[2])),
            _ => throw new FormatException($"Unexpected port mapping '{text}'."),
        };
    }

    private static int? ParseOptional(string s) => s.Length == 0 ? null : int.Parse(s);
}
