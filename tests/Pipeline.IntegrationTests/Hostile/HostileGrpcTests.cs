using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using Pipeline.Contracts.Embed.V1;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;

namespace Pipeline.IntegrationTests.Hostile;

/// <summary>
/// Hostile calls on the running pipeline's gRPC APIs: without the API key, over the size limit,
/// with text that would mislead a reader, with markup and header injections that must reach the
/// inbox as harmless text, and with hostile addresses.
/// </summary>
public sealed class HostileGrpcTests(RabbitMqFixture rabbit, PipelineFixture pipeline) : PipelineTestBase(rabbit, pipeline)
{
    private enum Guard
    {
        /// <summary>Reads nothing personal and changes nothing (or is open by design: Subscribe is double opt-in and rate limited).</summary>
        Open,

        /// <summary>Needs <c>x-api-key</c>: without it, UNAUTHENTICATED and nothing happens.</summary>
        ApiKey,

        /// <summary>Acts for the subscriber a signed link names: without a valid token, INVALID_ARGUMENT.</summary>
        Token,
    }

    /// <summary>
    /// Every RPC of every service and what guards it. The test below compares this with the services
    /// compiled from contracts/Pipeline.Contracts/Protos, so a new RPC fails it until it is placed here.
    /// </summary>
    private static readonly Dictionary<string, Guard> Guards = new()
    {
        ["pipeline.ingest.v1.IngestService/SubmitPapers"] = Guard.ApiKey,
        ["pipeline.ingest.v1.IngestService/ImportPapers"] = Guard.ApiKey,
        ["pipeline.ingest.v1.IngestService/PollSource"] = Guard.ApiKey,
        ["pipeline.ingest.v1.IngestService/GetPaper"] = Guard.Open,
        ["pipeline.ingest.v1.IngestService/ListPapers"] = Guard.Open,
        ["pipeline.ingest.v1.IngestService/ListSources"] = Guard.Open,
        ["pipeline.embed.v1.EmbedService/Embed"] = Guard.Open,
        ["pipeline.embed.v1.EmbedService/GetModel"] = Guard.Open,
        // Open for the page everyone sees and for interests given in the call; a subscriber's own
        // page (subscriber_id) needs the key (RankingApiTests).
        ["pipeline.rank.v1.RankingService/Trending"] = Guard.Open,
        ["pipeline.rank.v1.RankingService/Recommend"] = Guard.Open,
        ["pipeline.rank.v1.RankingService/Search"] = Guard.Open,
        ["pipeline.rank.v1.RankingService/Similar"] = Guard.Open,
        ["pipeline.rank.v1.RankingService/Vote"] = Guard.ApiKey,
        ["pipeline.rank.v1.RankingService/RebuildIndex"] = Guard.ApiKey,
        ["pipeline.notify.v1.SubscriptionService/Subscribe"] = Guard.Open,
        ["pipeline.notify.v1.SubscriptionService/Confirm"] = Guard.Token,
        ["pipeline.notify.v1.SubscriptionService/Unsubscribe"] = Guard.Token,
        ["pipeline.notify.v1.SubscriptionService/UpdatePreferences"] = Guard.Token,
        ["pipeline.notify.v1.SubscriptionService/GetSubscriber"] = Guard.ApiKey,
        ["pipeline.notify.v1.SubscriptionService/ListDeliveries"] = Guard.ApiKey,
        ["pipeline.notify.v1.SubscriptionService/SendDigestNow"] = Guard.ApiKey,
        ["pipeline.notify.v1.SubscriptionService/RepublishSubscribers"] = Guard.ApiKey,
    };

    private static readonly (string Service, FileDescriptor Proto)[] Protos =
    [
        ("ingest", IngestReflection.Descriptor), ("embed", EmbedReflection.Descriptor),
        ("rank", RankReflection.Descriptor), ("notify", NotifyReflection.Descriptor),
    ];

    private static IEnumerable<(string Service, MethodDescriptor Method)> AllMethods() =>
        Protos.SelectMany(p => p.Proto.Services.SelectMany(s => s.Methods.Select(m => (p.Service, m))));

    private static string FullName(MethodDescriptor m) => $"{m.Service.FullName}/{m.Name}";

    private static readonly Marshaller<byte[]> Bytes = new(b => b, b => b);

    /// <summary>Calls any RPC with raw request bytes (an empty message unless given), as a client without the generated stubs would.</summary>
    private async Task<StatusCode> CallAsync(string service, MethodDescriptor method, Metadata? headers = null, byte[]? request = null)
    {
        var invoker = Pipeline.Channel(service);
        var options = new CallOptions(headers, DateTime.UtcNow.AddSeconds(30));
        request ??= [];
        try
        {
            if (method.IsClientStreaming)
            {
                var rpc = new Method<byte[], byte[]>(MethodType.ClientStreaming, method.Service.FullName, method.Name, Bytes, Bytes);
                using var call = invoker.AsyncClientStreamingCall(rpc, null, options);
                try
                {
                    await call.RequestStream.WriteAsync(request);
                    await call.RequestStream.CompleteAsync();
                }
                catch (Exception e) when (e is RpcException or InvalidOperationException)
                {
                    // The server may answer before it reads the stream; its answer is the status below.
                }

                await call.ResponseAsync;
            }
            else
            {
                var rpc = new Method<byte[], byte[]>(MethodType.Unary, method.Service.FullName, method.Name, Bytes, Bytes);
                await invoker.AsyncUnaryCall(rpc, null, options, request);
            }

            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    [Fact]
    public void Every_rpc_in_the_protos_has_a_decided_guard()
    {
        var compiled = AllMethods().Select(m => FullName(m.Method)).Order().ToArray();

        Assert.True(compiled.SequenceEqual(Guards.Keys.Order()),
            "RPCs without a decided guard (add each to Guards: does it change state or read personal data?): "
            + string.Join(", ", compiled.Except(Guards.Keys)) + "; listed but gone: " + string.Join(", ", Guards.Keys.Except(compiled)));
        Assert.DoesNotContain(AllMethods(), m => m.Method.IsServerStreaming);
    }

    [Fact]
    public async Task Every_keyed_rpc_refuses_a_call_without_the_key_or_with_a_wrong_one_and_changes_nothing()
    {
        var paper = Papers.QuantumErrorCorrection($"local:hostile-nokey-{Guid.NewGuid():N}");
        var wrong = new Metadata { { "x-api-key", "guess" } };
        var refused = new List<string>();
        foreach (var (service, method) in AllMethods().Where(m => Guards.GetValueOrDefault(FullName(m.Method)) == Guard.ApiKey))
        {
            // A real paper where the RPC takes papers, so "nothing happened" can be checked.
            byte[]? request = method.Name switch
            {
                "SubmitPapers" => new SubmitPapersRequest { Papers = { paper } }.ToByteArray(),
                "ImportPapers" => paper.ToByteArray(),
                _ => null,
            };
            Assert.Equal((FullName(method), StatusCode.Unauthenticated), (FullName(method), await CallAsync(service, method, null, request)));
            Assert.Equal((FullName(method), StatusCode.Unauthenticated), (FullName(method), await CallAsync(service, method, wrong, request)));
            refused.Add(method.Name);
        }

        Assert.Equal(Guards.Count(g => g.Value == Guard.ApiKey), refused.Count);
        Assert.Contains("SubmitPapers", refused);
        var stored = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = paper.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, stored.StatusCode);
    }

    [Fact]
    public async Task Every_token_rpc_refuses_a_call_without_a_valid_token()
    {
        foreach (var (service, method) in AllMethods().Where(m => Guards.GetValueOrDefault(FullName(m.Method)) == Guard.Token))
        {
            Assert.Equal((FullName(method), StatusCode.InvalidArgument), (FullName(method), await CallAsync(service, method)));
        }
    }

    /// <summary>
    /// The service's health right after it refused a 17 MB message. The client may still be writing
    /// the refused message's frames when the server resets its stream, and Kestrel may then close
    /// the whole connection (HTTP/2 STREAM_CLOSED; seen once in a clean-clone CI run): the next call
    /// on it fails and the channel connects again. So a failure of the connection is tried again,
    /// twice; a service that stopped serving still fails the test.
    /// </summary>
    private async Task<HealthCheckResponse> HealthAfterRefusalAsync(string service)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await new Health.HealthClient(Pipeline.Channel(service)).CheckAsync(new HealthCheckRequest());
            }
            catch (RpcException e) when (attempt < 3 && e.StatusCode is StatusCode.Internal or StatusCode.Unavailable)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        }
    }

    [Fact]
    public async Task A_message_over_16_MB_is_refused_as_resource_exhausted_by_every_service_which_stays_up()
    {
        var huge = new string('x', 17 * 1024 * 1024);
        var paper = Papers.MedievalTaxes($"local:hostile-huge-{Guid.NewGuid():N}");
        paper.Abstract = huge;
        var calls = new (string Service, Func<Task> Call)[]
        {
            ("ingest", () => Pipeline.Ingest.SubmitPapersAsync(new SubmitPapersRequest { Papers = { paper } }, PipelineFixture.WithApiKey).ResponseAsync),
            ("ingest", async () =>
            {
                // The answer is awaited, not the write. Ingest refuses the message from its length
                // prefix and answers without reading the rest, and HTTP/2 flow control can then leave
                // the client's write of 17 MB waiting for a window nobody will grant. Awaited, that
                // write hung this test twice (27 Nov): nothing roots such a wait, so the garbage
                // collector took it with the call's own deadline timer, and the run waited for ever.
                // The token's timer is rooted by the runtime's timer queue, so the call ends by then.
                using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                using var import = Pipeline.Ingest.ImportPapers(PipelineFixture.WithApiKey, cancellationToken: giveUp.Token);
                _ = WriteThenCompleteAsync(import.RequestStream, paper);
                await import.ResponseAsync;
            }),
            ("embed", () => Pipeline.Embed.EmbedAsync(new EmbedRequest { Texts = { huge } }).ResponseAsync),
            ("rank", () => Pipeline.Rank.SearchAsync(new SearchRequest { Query = huge }).ResponseAsync),
            ("notify", () => Pipeline.Notify.SubscribeAsync(new SubscribeRequest { Email = "huge@example.org", Interests = { huge }, Cadence = Cadence.Daily }).ResponseAsync),
        };

        foreach (var (service, call) in calls)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal((service, StatusCode.ResourceExhausted), (service, e.StatusCode));
            var health = await HealthAfterRefusalAsync(service);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
            Assert.True(Pipeline.Services[service].IsRunning, $"{service} exited");
        }

        // Nothing of the refused paper was kept, and a normal call right after works.
        var gone = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = paper.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        Assert.NotNull(await Pipeline.Embed.GetModelAsync(new GetModelRequest()));
    }

    [Fact]
    public async Task Notify_whose_Subscribe_anyone_may_call_refuses_a_message_over_1_MB()
    {
        var twoMegabytes = new string('x', 2 * 1024 * 1024);

        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = $"two-megabytes-{Guid.NewGuid():N}@example.org", Interests = { twoMegabytes }, Cadence = Cadence.Daily,
        }).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await HealthAfterRefusalAsync("notify")).Status);
    }

    /// <summary>Writes one message and completes the stream; the server may answer first, and then the write fails or never ends.</summary>
    private static async Task WriteThenCompleteAsync<T>(IClientStreamWriter<T> stream, T message)
    {
        try
        {
            await stream.WriteAsync(message);
            await stream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or OperationCanceledException or IOException)
        {
            // The server answered before taking the message: its answer is the status the test reads.
        }
    }

    [Theory]
    [InlineData("nul", "title has the control character U+0000")]
    [InlineData("bell", "title has the control character U+0007")]
    [InlineData("bidi-override", "title has the bidirectional control U+202E")]
    [InlineData("bidi-isolate", "title has the bidirectional control U+2067")]
    public async Task A_title_that_would_mislead_a_reader_is_rejected_with_a_reason_and_never_stored(string name, string reason)
    {
        var paper = Papers.MedievalTaxes($"local:hostile-{name}-{Guid.NewGuid():N}");
        paper.Title = HostileCorpus.String("unprintable-titles", name);

        var response = await SubmitAsync(paper);

        Assert.Equal((SubmitOutcome.Rejected, reason), (response.Results[0].Outcome, response.Results[0].Reason));
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = paper.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task GetPaper_with_an_id_longer_than_any_stored_one_is_invalid_and_not_echoed_back()
    {
        var id = "2410." + new string('1', 10_000);

        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = id }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("longer than 128 characters", e.Status.Detail);
        Assert.True(e.Status.Detail.Length < 200, e.Status.Detail.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [MemberData(nameof(Addresses))]
    public async Task A_hostile_address_is_refused_and_nothing_is_sent_to_anyone(string name)
    {
        var address = HostileCorpus.String("addresses", name);
        var before = Pipeline.Smtp.Messages.Count;

        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = address, Cadence = Cadence.Instant, Interests = { "anything" },
        }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        await Task.Delay(300);
        Assert.DoesNotContain(Pipeline.Smtp.Messages.Skip(before), m => m.EnvelopeTo.Any(t => t.Contains("eve@", StringComparison.OrdinalIgnoreCase) || t.Contains("ada@example.org", StringComparison.OrdinalIgnoreCase)));
    }

    public static IEnumerable<object[]> Addresses() => HostileCorpus.Names("addresses");

    [Fact]
    public async Task Markup_and_a_header_injection_in_a_paper_reach_the_inbox_as_escaped_text_and_to_the_subscriber_alone()
    {
        var email = $"hostile-alert-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(email, "honeybee colony health from hive acoustics");
        var paper = Papers.QuantumErrorCorrection($"local:hostile-markup-{Guid.NewGuid():N}");
        paper.Title = HostileCorpus.String("titles", "header-injection") + " " + HostileCorpus.String("titles", "script");
        paper.Abstract = HostileCorpus.String("abstracts", "markup") + " We record the sound of honeybee hives with cheap microphones and detect queen loss, swarming and disease in the colony from the hum of the hive.";

        Assert.Equal(SubmitOutcome.Accepted, (await SubmitAsync(paper)).Results[0].Outcome);
        var alert = await Pipeline.Smtp.WaitForMessageAsync(m => IsAlertTo(m, email), Arrival);

        // The envelope and the headers name the subscriber alone; the injected lines are text in the subject.
        Assert.Equal([email], alert.EnvelopeTo);
        var raw = System.Text.Encoding.UTF8.GetString(alert.Raw);
        var headers = raw[..raw.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        Assert.DoesNotMatch("(?mi)^(Bcc|Cc|X-Injected):", headers);
        Assert.Empty(alert.Message.Bcc);
        Assert.Empty(alert.Message.Cc);
        Assert.Contains("Bcc: eve@example.org X-Injected: yes", alert.Subject);
        // Markup is escaped in the HTML part; the plain part carries it as characters.
        var html = alert.Message.HtmlBody!;
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("href=\"javascript:", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;", html);
        Assert.Contains("<script>alert('title')</script>", alert.Message.TextBody);
    }
}
