using YamlDotNet.RepresentationModel;

namespace Pipeline.Deploy.Tests;

/// <summary>
/// `docker compose config` (or `docker-compose config`) on docker-compose.yml: it parses and resolves
/// the file the way `up` would, without a Docker engine. Skipped where no Compose CLI is installed.
/// </summary>
public sealed class Compose_itself
{
    private static readonly Dictionary<string, string?> Secrets = new()
    {
        ["PIPELINE_API_KEY"] = "test-api-key",
        ["NOTIFY_TOKEN_KEY"] = "test-signing-key",
        ["RABBITMQ_PASSWORD"] = "test-rabbit-password",
    };

    [ComposeFact]
    public void Accepts_the_file_and_resolves_the_secrets_from_the_environment()
    {
        var result = Config(Secrets);
        Assert.True(result.ExitCode == 0, result.ToString());

        var resolved = ComposeFile.Parse(result.Output);
        Assert.Equal("test-api-key", resolved.Environment("ingest")["Security__ApiKeys__0"]);
        Assert.Equal("test-signing-key", resolved.Environment("notify")["Tokens__SigningKey"]);
        Assert.Equal("amqp://pipeline:test-rabbit-password@rabbitmq:5672/", resolved.Environment("embed")["ConnectionStrings__rabbitmq"]);
        Assert.Equal(
            ComposeFile.PipelineServices.Concat(["rabbitmq", "jaeger", "mailpit"]).Concat(ComposeFile.PipelineServices.Select(ComposeFile.RedisOf)).Order(),
            resolved.ServiceNames.Order());
        Assert.IsType<YamlMappingNode>(resolved.Service("embed")["build"]);
    }

    [ComposeFact]
    public void Refuses_to_run_without_the_api_key()
    {
        var result = Config(new Dictionary<string, string?>(Secrets) { ["PIPELINE_API_KEY"] = null });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("PIPELINE_API_KEY", result.Output + result.Error);
    }

    [ComposeFact]
    public void Publishes_the_services_on_this_machine_only_unless_told_another_address()
    {
        var local = ComposeFile.Parse(Config(Secrets).Output);
        var open = ComposeFile.Parse(Config(new Dictionary<string, string?>(Secrets) { ["PUBLISH_ADDRESS"] = "0.0.0.0" }).Output);

        foreach (var service in new[] { "ingest", "rank", "notify" })
        {
            Assert.All(local.Ports(service), p => Assert.Equal((service, "127.0.0.1"), (service, p.HostIp)));
            Assert.All(open.Ports(service), p => Assert.Equal((service, "0.0.0.0"), (service, p.HostIp)));
            Assert.Equal(2, open.Ports(service).Count);
        }
    }

    /// <summary>Runs config with exactly these secrets: an empty env file hides a developer's .env.</summary>
    private static ToolResult Config(Dictionary<string, string?> environment)
    {
        var emptyEnvFile = Path.GetTempFileName();
        try
        {
            return ComposeCli.Run(["--env-file", emptyEnvFile, "-f", ComposeFile.FileName, "config"], environment);
        }
        finally
        {
            File.Delete(emptyEnvFile);
        }
    }
}
