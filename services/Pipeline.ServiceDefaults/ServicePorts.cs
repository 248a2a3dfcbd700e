namespace Pipeline.ServiceDefaults;

/// <summary>
/// The port table of ARCHITECTURE.md: the defaults every service, deploy/local and the compose
/// file agree on. Anything here can be overridden through configuration.
/// </summary>
public static class ServicePorts
{
    public static readonly IReadOnlyDictionary<string, (int Grpc, int Http, int Redis)> Services =
        new Dictionary<string, (int, int, int)>
        {
            ["ingest"] = (5101, 5201, 6381),
            ["embed"] = (5102, 5202, 6382),
            ["rank"] = (5103, 5203, 6383),
            ["notify"] = (5104, 5204, 6384),
        };

    public const int RabbitMq = 5672;
    public const int Smtp = 1025;

    /// <summary>The default gRPC address of a service, used when <c>Services__&lt;name&gt;__grpc</c> is not set.</summary>
    public static Uri DefaultGrpcAddress(string service) => new($"http://127.0.0.1:{Services[service].Grpc}");
}
