using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Pipeline.ServiceDefaults;

/// <summary>
/// A service's name and its own telemetry sources. Registered as a singleton by
/// <see cref="ServiceDefaultsExtensions.AddServiceDefaults"/>; the source and meter are named
/// <c>Pipeline.&lt;Service&gt;</c> and exported with the rest.
/// </summary>
public sealed class ServiceIdentity : IDisposable
{
    public ServiceIdentity(string name)
    {
        Name = name;
        var sourceName = SourceNameFor(name);
        ActivitySource = new ActivitySource(sourceName);
        Meter = new Meter(sourceName);
    }

    /// <summary>The service name in traces: ingest, embed, rank or notify (unless OTEL_SERVICE_NAME says otherwise).</summary>
    public string Name { get; }

    public ActivitySource ActivitySource { get; }

    public Meter Meter { get; }

    public static string SourceNameFor(string name) =>
        "Pipeline." + char.ToUpperInvariant(name[0]) + name[1..];

    public void Dispose()
    {
        ActivitySource.Dispose();
        Meter.Dispose();
    }
}
