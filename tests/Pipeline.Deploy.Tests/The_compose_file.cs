using System.Text.RegularExpressions;
using Pipeline.ServiceDefaults;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Deploy.Tests;

/// <summary>docker-compose.yml against the port table and the start order of ARCHITECTURE.md.</summary>
public sealed partial class The_compose_file
{
    private static readonly string[] Redis = ComposeFile.PipelineServices.Select(ComposeFile.RedisOf).ToArray();

    private readonly ComposeFile _compose = ComposeFile.Load();

    public static TheoryData<string> PipelineServices => new(ComposeFile.PipelineServices);

    public static TheoryData<string> AllServices => new(ComposeFile.Load().ServiceNames);

    [Fact]
    public void Parses_as_yaml_with_a_services_section()
    {
        Assert.NotEmpty(_compose.Services.Children);
    }

    [Fact]
    public void Has_the_four_pipeline_services_rabbitmq_jaeger_mailpit_and_four_redis()
    {
        string[] expected = [.. ComposeFile.PipelineServices, "rabbitmq", "jaeger", "mailpit", .. Redis];
        Assert.Equal(expected.Order(), _compose.ServiceNames.Order());
    }

    [Fact]
    public void Knows_the_same_four_services_as_the_port_table()
    {
        Assert.Equal(ServicePorts.Services.Keys.Order(), ComposeFile.PipelineServices.Order());
    }

    [Theory]
    [MemberData(nameof(PipelineServices))]
    public void Each_pipeline_service_publishes_its_grpc_and_http_ports(string service)
    {
        var (grpc, http, _) = ServicePorts.Services[service];
        var ports = _compose.Ports(service);
        Assert.Equal([grpc, http], ports.Select(p => p.Target).Order());
        if (service == "embed")
        {
            // Scalable: each replica gets an ephemeral host port, so none is fixed.
            Assert.All(ports, p => Assert.Null(p.Published));
        }
        else
        {
            // On this machine only unless PUBLISH_ADDRESS says otherwise: the calls are plain h2c,
            // and the API key must not cross a network in clear (docs/deploy.md, TLS in front).
            Assert.All(ports, p => Assert.Equal((p.Target, "127.0.0.1"), (p.Published!.Value, p.HostIp)));
            Assert.All(_compose.RawPorts(service), p => Assert.StartsWith("${PUBLISH_ADDRESS:-127.0.0.1}:", p));
        }
    }

    [Theory]
    [MemberData(nameof(PipelineServices))]
    public void Each_pipeline_service_listens_on_all_interfaces_on_its_ports(string service)
    {
        var (grpc, http, _) = ServicePorts.Services[service];
        var env = _compose.Environment(service);
        Assert.Equal($"http://0.0.0.0:{grpc}", env["Kestrel__Endpoints__Grpc__Url"]);
        Assert.Equal($"http://0.0.0.0:{http}", env["Kestrel__Endpoints__Http__Url"]);
        Assert.Equal("Http2", env["Kestrel__Endpoints__Grpc__Protocols"]);
        Assert.Equal("Http1", env["Kestrel__Endpoints__Http__Protocols"]);
        Assert.Equal(service, env["OTEL_SERVICE_NAME"]);
    }

    [Theory]
    [MemberData(nameof(PipelineServices))]
    public void Each_service_talks_to_its_own_redis_and_the_broker(string service)
    {
        var env = _compose.Environment(service);
        Assert.Equal($"{ComposeFile.RedisOf(service)}:6379", env["ConnectionStrings__redis"]);
        Assert.Matches(@"^amqp://[^@]+@rabbitmq:5672/$", env["ConnectionStrings__rabbitmq"]);
        Assert.Equal("http://jaeger:4317", DefaultOf(env["OTEL_EXPORTER_OTLP_ENDPOINT"]));
    }

    [Fact]
    public void Rank_calls_embed_and_notify_calls_rank_on_their_grpc_ports()
    {
        Assert.Equal($"http://embed:{ServicePorts.Services["embed"].Grpc}", _compose.Environment("rank")["Services__embed__grpc"]);
        Assert.Equal($"http://rank:{ServicePorts.Services["rank"].Grpc}", _compose.Environment("notify")["Services__rank__grpc"]);
    }

    [Fact]
    public void Notify_sends_mail_to_mailpit_by_default_and_links_to_its_own_http_port()
    {
        var env = _compose.Environment("notify");
        Assert.Equal("mailpit", DefaultOf(env["Smtp__Host"]));
        Assert.Equal(ServicePorts.Smtp.ToString(), DefaultOf(env["Smtp__Port"]));
        Assert.Equal("None", DefaultOf(env["Smtp__Security"]));
        Assert.Equal($"http://localhost:{ServicePorts.Services["notify"].Http}", DefaultOf(env["Notify__PublicBaseUrl"]));
        foreach (var name in new[] { "Smtp__Username", "Smtp__Password", "Smtp__From", "Tokens__SigningKey" })
        {
            Assert.True(env.ContainsKey(name), $"notify has no {name}");
        }
    }

    [Theory]
    [InlineData("ingest")]
    [InlineData("rank")]
    [InlineData("notify")]
    public void Services_with_mutating_calls_get_the_api_key(string service)
    {
        Assert.Matches(RequiredVariable(), _compose.Environment(service)["Security__ApiKeys__0"]);
    }

    [Fact]
    public void Publishes_rabbitmq_smtp_otlp_and_the_uis_on_loopback_and_redis_on_the_local_ports()
    {
        AssertPublishedOnLoopback("rabbitmq", (ServicePorts.RabbitMq, ServicePorts.RabbitMq), (15672, 15672));
        AssertPublishedOnLoopback("mailpit", (ServicePorts.Smtp, ServicePorts.Smtp), (8025, 8025));
        AssertPublishedOnLoopback("jaeger", (4317, 4317), (16686, 16686));
        foreach (var service in ComposeFile.PipelineServices)
        {
            AssertPublishedOnLoopback(ComposeFile.RedisOf(service), (ServicePorts.Services[service].Redis, 6379));
        }
    }

    [Theory]
    [MemberData(nameof(PipelineServices))]
    public void Every_redis_runs_with_appendonly_yes_and_everysec_on_a_named_volume_and_notifys_fsyncs_every_write(string service)
    {
        var redis = ComposeFile.RedisOf(service);
        Assert.StartsWith("redis:7", ComposeFile.Scalar(_compose.Service(redis)["image"]));
        var command = _compose.Command(redis);
        Assert.Contains("--appendonly yes", command);
        // Notify's delivery records stop an email going out twice: none of them may be lost in a crash.
        Assert.Contains(service == "notify" ? "--appendfsync always" : "--appendfsync everysec", command);
        AssertNamedVolumeAt(redis, "/data");
    }

    [Fact]
    public void Rabbitmq_keeps_its_data_on_a_named_volume_under_a_fixed_node_name()
    {
        AssertNamedVolumeAt("rabbitmq", "/var/lib/rabbitmq");
        // The data directory is named after rabbit@<hostname>: a random container hostname would
        // lose the queues every time the container is re-created.
        Assert.Equal("rabbitmq", ComposeFile.Scalar(_compose.Service("rabbitmq")["hostname"]));
    }

    [Theory]
    [MemberData(nameof(PipelineServices))]
    public void Every_pipeline_service_waits_for_rabbitmq_and_its_redis_to_be_healthy(string service)
    {
        var dependsOn = _compose.DependsOn(service);
        Assert.Equal("service_healthy", dependsOn.GetValueOrDefault("rabbitmq"));
        Assert.Equal("service_healthy", dependsOn.GetValueOrDefault(ComposeFile.RedisOf(service)));
        Assert.DoesNotContain(dependsOn.Keys, d => d.StartsWith("redis-") && d != ComposeFile.RedisOf(service));
    }

    [Fact]
    public void Services_start_downstream_first_notify_then_embed_then_rank_then_ingest()
    {
        var order = ComposeFile.PipelineServices;
        for (var i = 1; i < order.Length; i++)
        {
            Assert.Equal("service_healthy", _compose.DependsOn(order[i]).GetValueOrDefault(order[i - 1]));
        }

        Assert.DoesNotContain(ComposeFile.PipelineServices, s => _compose.DependsOn("notify").ContainsKey(s));
    }

    [Fact]
    public void Notify_waits_for_the_mail_server()
    {
        Assert.Equal("service_healthy", _compose.DependsOn("notify").GetValueOrDefault("mailpit"));
    }

    [Theory]
    [MemberData(nameof(AllServices))]
    public void Every_service_has_a_healthcheck(string service)
    {
        var healthcheck = Assert.IsType<YamlMappingNode>(ComposeFile.Child(_compose.Service(service), "healthcheck"));
        Assert.NotNull(ComposeFile.Child(healthcheck, "test"));
    }

    [Theory]
    [MemberData(nameof(AllServices))]
    public void Every_service_restarts_unless_stopped(string service)
    {
        Assert.Equal("unless-stopped", ComposeFile.Scalar(_compose.Service(service)["restart"]));
    }

    [Fact]
    public void Infrastructure_healthchecks_ask_the_servers_themselves()
    {
        Assert.Contains("rabbitmq-diagnostics -q ping", HealthcheckCommand("rabbitmq"));
        Assert.All(Redis, r => Assert.Contains("redis-cli ping", HealthcheckCommand(r)));
    }

    [Theory]
    [MemberData(nameof(PipelineServices))]
    public void Each_pipeline_service_is_built_from_the_repository_root_with_its_service_argument(string service)
    {
        var build = Assert.IsType<YamlMappingNode>(_compose.Service(service)["build"]);
        Assert.Equal(".", ComposeFile.Scalar(build["context"]));
        Assert.Equal("deploy/service.Dockerfile", ComposeFile.Scalar(build["dockerfile"]));
        Assert.Equal(service, ComposeFile.Scalar(((YamlMappingNode)build["args"])["SERVICE"]));
    }

    [Fact]
    public void Embed_can_be_scaled_with_no_container_name_and_no_fixed_host_port()
    {
        var embed = _compose.Service("embed");
        Assert.Null(ComposeFile.Child(embed, "container_name"));
        Assert.All(_compose.Ports("embed"), p => Assert.Null(p.Published));
    }

    [Fact]
    public void Holds_no_secret_literal_and_requires_the_api_key_and_signing_key_from_variables()
    {
        foreach (var service in _compose.ServiceNames)
        {
            foreach (var (name, value) in _compose.Environment(service))
            {
                if (SecretName().IsMatch(name))
                {
                    // Nothing but variable references, e.g. ${SMTP_PASSWORD:-} or ${PIPELINE_API_KEY:?...}.
                    Assert.True(VariableReference().Replace(value, "").Length == 0, $"{service}: {name} has a literal value '{value}'.");
                }
            }

            if (_compose.Environment(service).TryGetValue("ConnectionStrings__rabbitmq", out var amqp))
            {
                var userInfo = new Uri(VariableReference().Replace(amqp, "x")).UserInfo;
                Assert.Equal("x:x", userInfo);
                Assert.Matches(@":\$\{RABBITMQ_PASSWORD:\?", amqp);
            }
        }

        Assert.Matches(RequiredVariable(), _compose.Environment("notify")["Tokens__SigningKey"]);
        Assert.Matches(RequiredVariable(), _compose.Environment("rabbitmq")["RABBITMQ_DEFAULT_PASS"]);
    }

    [Fact]
    public void Every_variable_it_reads_is_described_in_the_env_example()
    {
        var example = Repository.Read("deploy/.env.example");
        var compose = Repository.Read(ComposeFile.FileName);
        foreach (Match reference in VariableReference().Matches(compose))
        {
            var name = reference.Groups["name"].Value;
            Assert.Matches(new Regex($"(?m)^#?{name}="), example);
            if (reference.Value.Contains(":?"))
            {
                // A required secret: listed with no value, to be filled into the git-ignored .env.
                Assert.Matches(new Regex($"(?m)^{name}=$"), example);
            }
        }
    }

    [Fact]
    public void The_env_file_with_the_secrets_is_ignored_by_git()
    {
        var ignored = Repository.Read(".gitignore").Split('\n').Select(l => l.Trim());
        Assert.Contains(".env", ignored);
    }

    private void AssertPublishedOnLoopback(string service, params (int Published, int Target)[] expected)
    {
        var ports = _compose.Ports(service);
        Assert.Equal(expected.Select(e => e.Target).Order(), ports.Select(p => p.Target).Order());
        foreach (var (published, target) in expected)
        {
            Assert.Contains(new PortMapping("127.0.0.1", published, target), ports);
        }
    }

    private void AssertNamedVolumeAt(string service, string path)
    {
        var volumes = (YamlSequenceNode)_compose.Service(service)["volumes"];
        var mount = volumes.Children.Select(ComposeFile.Scalar).Single(v => v.EndsWith(":" + path));
        var volume = mount[..mount.IndexOf(':')];
        var declared = (YamlMappingNode)_compose.Root["volumes"];
        Assert.True(declared.Children.ContainsKey(new YamlScalarNode(volume)), $"volume '{volume}' of {service} is not a named volume");
    }

    private string HealthcheckCommand(string service)
    {
        var test = ((YamlMappingNode)_compose.Service(service)["healthcheck"])["test"];
        var parts = test is YamlSequenceNode list ? list.Children.Select(ComposeFile.Scalar).ToList() : [ComposeFile.Scalar(test)];
        return string.Join(' ', parts.SkipWhile(p => p is "CMD" or "CMD-SHELL"));
    }

    /// <summary>The default of <c>${VAR:-default}</c>, or the value itself when it is a literal.</summary>
    private static string DefaultOf(string value)
    {
        var match = Regex.Match(value, @"^\$\{\w+:-(?<default>[^}]*)\}$");
        return match.Success ? match.Groups["default"].Value : value;
    }

    [GeneratedRegex(@"\$\{(?<name>\w+)[^}]*\}")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"^\$\{\w+:\?[^}]+\}$")]
    private static partial Regex RequiredVariable();

    [GeneratedRegex("Key|Secret|Pass", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();
}
