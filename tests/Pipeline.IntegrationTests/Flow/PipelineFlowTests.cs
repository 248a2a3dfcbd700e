using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Grpc.Core;
using MassTransit;
using MimeKit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Contracts.Notify.V1;
using Pipeline.Contracts.Rank.V1;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Flow;

/// <summary>
/// One paper travels from SubmitPapers to a real inbox through the four services, on real RabbitMQ,
/// Redis, SMTP and gRPC, and the whole way is one trace.
/// </summary>
public sealed class PipelineFlowTests(RabbitMqFixture rabbit, PipelineFixture pipeline) : PipelineTestBase(rabbit, pipeline)
{
    [Fact]
    public async Task An_instant_subscriber_gets_exactly_one_email_for_the_paper_on_their_topic()
    {
        var email = $"ada-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(email, "protein structure prediction");
        var onTopic = Papers.ProteinFolding();

        var response = await SubmitAsync(onTopic, Papers.MedievalTaxes());

        Assert.All(response.Results, r => Assert.Equal(SubmitOutcome.Accepted, r.Outcome));
        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;
        Assert.Contains(onTopic.Title, alert.Subject);
        Assert.Contains(onTopic.Title, alert.TextBody);
        Assert.Contains($"https://arxiv.org/abs/{onTopic.Id}", alert.TextBody);
        Assert.Contains($"href=\"https://arxiv.org/abs/{onTopic.Id}\"", alert.HtmlBody);
        Assert.Contains("matches your interest 'protein structure prediction'", alert.TextBody);
        Assert.Contains("Ada Lovelace", alert.TextBody);
        Assert.NotNull(alert.Headers["List-Unsubscribe"]);

        // The far paper went through the pipeline too (rank can find it), yet raised no email.
        await WaitUntilRankKnowsAsync(Papers.MedievalTaxes().Title);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));

        // An operator sees the send in notify's metrics.
        await Pipeline.Traces.WaitForMetricAsync("notify", "pipeline.notify.emails",
            p => p.Attributes.GetValueOrDefault("kind") == "instant-alert" && p.Attributes.GetValueOrDefault("outcome") == "sent" && p.Value >= 1, Arrival);
    }

    [Fact]
    public async Task A_paper_holding_every_word_of_an_interest_alerts_even_when_its_meaning_is_below_the_threshold()
    {
        var email = $"margaret-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(email, "metamorphic testing");
        var named = Papers.MetamorphicPerception();

        await SubmitAsync(named, Papers.WinterTyres());

        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;
        Assert.Contains(named.Title, alert.Subject);
        var reason = Regex.Match(alert.TextBody ?? "", @"matches your interest 'metamorphic testing': 'metamorphic', 'testing' in the abstract; similar in meaning \((?<similarity>[0-9.]+)\)");
        Assert.True(reason.Success, alert.TextBody);
        // Below the subscriber's threshold (0.45): meaning alone would not have alerted.
        Assert.True(double.Parse(reason.Groups["similarity"].Value, CultureInfo.InvariantCulture) < 0.45, reason.Value);

        // One shared word is not enough.
        await WaitUntilRankKnowsAsync(Papers.WinterTyres().Title);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
    }

    [Fact]
    public async Task A_paper_by_an_author_an_instant_subscriber_follows_alerts_them_whatever_its_topic_or_way_of_writing_the_name()
    {
        var email = $"hypatia-{Guid.NewGuid():N}@example.org";
        // Followed as "Hypatia X", written by the paper as "X, H." (the surname made unique to this test)
        var surname = $"Alexandrina{Guid.NewGuid():N}"[..20];
        await SubscribeAndConfirmAsync(email, "protein structure prediction", $"Hypatia {surname}");
        var byAuthor = Papers.MedievalTaxes();
        var author = $"{surname}, H.";
        byAuthor.Authors.Add(author);

        await SubmitAsync(byAuthor, Papers.MedievalTaxes());

        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;
        Assert.Contains(byAuthor.Title, alert.Subject);
        Assert.Contains($"https://arxiv.org/abs/{byAuthor.Id}", alert.TextBody);
        Assert.Contains($"Why: by {author}, whom you follow", alert.TextBody);

        // The same paper by others only, far from the interest: no alert.
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
    }

    [Fact]
    public async Task One_trace_runs_from_SubmitPapers_through_the_four_services_to_the_smtp_send()
    {
        var email = $"alan-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(email, "quantum error correction");

        var paper = Papers.QuantumErrorCorrection();
        await SubmitAsync(paper);

        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;
        var send = await Pipeline.Traces.WaitForSpanAsync(
            s => s.Name == "smtp send" && s.Attribute("email.message_id") == alert.MessageId, Arrival);
        Assert.Equal(("notify", OtlpSpanKind.Client), (send.ServiceName, send.Kind));

        // Walk from the SMTP send up to the root; every parent must have arrived at the sink.
        var chain = new List<ReceivedSpan> { send };
        while (chain[^1].ParentSpanId is { } parentId)
        {
            var parent = await Pipeline.Traces.WaitForSpanAsync(s => s.TraceId == send.TraceId && s.SpanId == parentId, TimeSpan.FromSeconds(20));
            chain.Add(parent);
        }

        chain.Reverse();
        var root = chain[0];
        Assert.Equal(("ingest", OtlpSpanKind.Server), (root.ServiceName, root.Kind));
        Assert.Contains("SubmitPapers", root.Name);
        Assert.All(chain, s => Assert.Equal(send.TraceId, s.TraceId));

        // The services in the order the paper met them, and the kinds of span that carried it.
        Assert.Equal(["ingest", "embed", "rank", "notify"], chain.Select(s => s.ServiceName).Distinct());
        AssertHop(chain, "ingest", OtlpSpanKind.Producer);
        AssertHop(chain, "embed", OtlpSpanKind.Consumer);
        AssertHop(chain, "embed", OtlpSpanKind.Producer);
        AssertHop(chain, "rank", OtlpSpanKind.Consumer);
        AssertHop(chain, "rank", OtlpSpanKind.Producer);
        AssertHop(chain, "notify", OtlpSpanKind.Consumer);

        // The tags a person finds the trace by: the paper on rank's and notify's consume spans,
        // the subscriber by id (never by address) on notify's, the count on the call.
        var paperId = paper.Id;
        Assert.Equal("1", root.Attribute("ingest.papers"));
        Assert.Contains(chain, s => s.ServiceName == "rank" && s.Kind == OtlpSpanKind.Consumer && s.Attribute("paper.id") == paperId);
        Assert.Contains(chain, s => s.ServiceName == "notify" && s.Kind == OtlpSpanKind.Consumer && s.Attribute("paper.id") == paperId
            && !string.IsNullOrEmpty(s.Attribute("notify.subscriber_id")));
        Assert.DoesNotContain(chain, s => s.Attributes.Values.Any(v => v.Contains(email, StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public async Task Resubmitting_a_paper_and_redelivering_its_match_send_no_second_email()
    {
        var email = $"grace-{Guid.NewGuid():N}@example.org";
        var subscriberId = await SubscribeAndConfirmAsync(email, "speech recognition for low-resource languages");
        var paper = Papers.SpeechRecognition();
        await SubmitAsync(paper);
        await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival);

        var again = await SubmitAsync(paper);
        Assert.Equal(SubmitOutcome.Duplicate, again.Results.Single().Outcome);

        // The same PaperMatched again, as RabbitMQ would redeliver it after a crash; and what notify
        // announces to rank (DigestSent) on a queue of the test's own.
        var announced = new System.Collections.Concurrent.ConcurrentQueue<DigestSent>();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(Pipeline.RabbitMqConnectionString.Replace("amqp://guest:guest@", "rabbitmq://")), h =>
            {
                h.Username("guest");
                h.Password("guest");
            });
            cfg.ReceiveEndpoint($"flow-tests-digest-sent-{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.Handler<DigestSent>(context =>
                {
                    announced.Enqueue(context.Message);
                    return Task.CompletedTask;
                });
            });
        });
        await bus.StartAsync();
        try
        {
            var summary = new PaperSummary(paper.Id, paper.Version, paper.Title, paper.Abstract, paper.Authors, paper.Categories, null,
                $"https://arxiv.org/abs/{paper.Id}", paper.Source, 0);
            await bus.PublishBoundedAsync(new PaperMatched(subscriberId, summary, 0.9, "speech recognition for low-resource languages", "redelivered", DateTimeOffset.UtcNow));
            await bus.PublishBoundedAsync(new PaperMatched(subscriberId, summary, 0.9, "speech recognition for low-resource languages", "redelivered", DateTimeOffset.UtcNow));

            // No second email, but each redelivery tells rank again that the paper was sent: the
            // first DigestSent may have been lost with the broker connection that failed the message.
            await WaitUntilAsync(
                () => Task.FromResult(announced.Count(m => m.SubscriberId == subscriberId && m.PaperIds.Contains(paper.Id)) >= 2),
                "notify announces the already-sent alert again for each redelivery");
        }
        finally
        {
            await bus.StopBoundedAsync();
        }

        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(8), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
        var deliveries = await Pipeline.Notify.ListDeliveriesAsync(new ListDeliveriesRequest { SubscriberId = subscriberId }, PipelineFixture.WithApiKey);
        Assert.Equal([paper.Id], deliveries.Deliveries.Single().PaperIds);
    }

    [Fact]
    public async Task Unsubscribing_with_the_one_click_link_of_an_alert_stops_further_alerts()
    {
        var email = $"edsger-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(email, "reinforcement learning for robotic grasping");
        await SubmitAsync(Papers.RoboticGrasping());
        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;

        // RFC 8058: a POST to the List-Unsubscribe address with this body, no cookies.
        var link = new Uri(alert.Headers["List-Unsubscribe"]!.Trim('<', '>'));
        using var http = new HttpClient();
        var answer = await http.PostAsync(link, new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")]));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);

        await WaitUntilAsync(async () => await RankStatusAsync(alert) == StatusCode.NotFound, "rank forgets the unsubscribed profile");
        await SubmitAsync(Papers.RoboticGrasping());
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(5), m => IsAlertTo(m, email));
    }

    [Fact]
    public async Task An_instant_subscriber_gets_at_most_the_daily_number_of_alerts()
    {
        var email = $"barbara-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(email, "medieval tax registers of Italian towns");

        // Five papers on the topic, each new to the system.
        await SubmitAsync(Enumerable.Range(0, PipelineFixture.MaxInstantAlertsPerDay + 2).Select(_ => Papers.MedievalTaxes()).ToArray());

        await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), PipelineFixture.MaxInstantAlertsPerDay, Arrival);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(6), m => IsAlertTo(m, email));
        Assert.Equal(PipelineFixture.MaxInstantAlertsPerDay, Pipeline.Smtp.Messages.Count(e => IsAlertTo(e.Message, email)));
    }

    [Fact]
    public async Task Bad_papers_are_rejected_one_by_one_while_the_rest_of_the_call_is_accepted()
    {
        var good = Papers.MedievalTaxes();
        var noTitle = Papers.MedievalTaxes();
        noTitle.Title = "";
        var emptyAbstract = Papers.MedievalTaxes();
        emptyAbstract.Abstract = "";
        var hugeAbstract = Papers.MedievalTaxes();
        hugeAbstract.Abstract = new string('x', 1024 * 1024);
        var badId = Papers.MedievalTaxes("not a paper id");

        var response = await SubmitAsync(noTitle, good, emptyAbstract, hugeAbstract, badId);

        Assert.Equal(
            [SubmitOutcome.Rejected, SubmitOutcome.Accepted, SubmitOutcome.Rejected, SubmitOutcome.Rejected, SubmitOutcome.Rejected],
            response.Results.OrderBy(r => r.Index).Select(r => r.Outcome));
        Assert.Equal((1, 4), (response.Accepted, response.Rejected));
        Assert.Contains("title is required", response.Results[0].Reason);
        Assert.Contains("abstract is required", response.Results[2].Reason);
        Assert.Contains("abstract is longer than", response.Results[3].Reason);
        Assert.Contains("not a paper id", response.Results[4].Reason);

        var stored = await Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = good.Id });
        Assert.Equal(good.Title, stored.Title);
        // Nothing half-written: rejected papers are nowhere.
        foreach (var rejected in new[] { noTitle, emptyAbstract, hugeAbstract })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = rejected.Id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }
    }

    [Fact]
    public async Task A_paper_written_with_an_arxiv_prefix_or_as_arxivs_doi_is_the_same_paper_and_found_by_its_versioned_id()
    {
        var paper = Papers.MedievalTaxes();
        Assert.Equal(SubmitOutcome.Accepted, (await SubmitAsync(paper)).Results.Single().Outcome);

        // An export keyed by arXiv's DOI, a file writing "arxiv:": the paper already held, not a second copy.
        var asDoi = await SubmitAsync(Papers.MedievalTaxes($"doi:10.48550/arXiv.{paper.Id}"));
        var asPrefixed = await SubmitAsync(Papers.MedievalTaxes($"arxiv:{paper.Id}"));

        Assert.Equal((SubmitOutcome.Duplicate, paper.Id), (asDoi.Results.Single().Outcome, asDoi.Results.Single().Id));
        Assert.Equal((SubmitOutcome.Duplicate, paper.Id), (asPrefixed.Results.Single().Outcome, asPrefixed.Results.Single().Id));
        // The id as copied from arXiv's page, with its version.
        Assert.Equal(paper.Title, (await Pipeline.Ingest.GetPaperAsync(new GetPaperRequest { Id = $"{paper.Id}v{paper.Version}" })).Title);
    }

    [Fact]
    public async Task SubmitPapers_without_the_api_key_is_refused_as_unauthenticated()
    {
        var request = new SubmitPapersRequest { Papers = { Papers.MedievalTaxes() } };
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.SubmitPapersAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Ingest.SubmitPapersAsync(request, new Metadata { { "x-api-key", "guess" } }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
    }

    [Theory]
    [InlineData("not-an-address")]
    [InlineData("ada@example.org\r\nBcc: eve@example.org")]
    [InlineData("Ada <ada@example.org>")]
    [InlineData("")]
    public async Task Subscribe_refuses_an_invalid_address_as_invalid_argument(string address)
    {
        var request = new SubscribeRequest { Email = address, Cadence = Cadence.Instant, Interests = { "anything" } };
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.SubscribeAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task Confirm_with_a_forged_token_is_refused()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.ConfirmAsync(new ConfirmRequest { Token = "eyJmb3JnZWQ.c2lnbmF0dXJl" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task Search_and_Recommend_find_a_paper_by_meaning_and_say_why()
    {
        var paper = Papers.QuantumErrorCorrection();
        await SubmitAsync(paper, Papers.MedievalTaxes());
        await WaitUntilRankKnowsAsync(paper.Title);

        var found = await Pipeline.Rank.SearchAsync(new SearchRequest { Query = "fault-tolerant quantum computers", Limit = 1 });
        Assert.Equal(paper.Title, found.Papers.Single().Title);
        Assert.Contains("your search 'fault-tolerant quantum computers'", found.Papers[0].Reason);
        Assert.InRange(found.Papers[0].Parts.Relevance, 0.3, 1.0);

        var recommended = await Pipeline.Rank.RecommendAsync(new RecommendRequest { Interests = { "history of taxation", "qubits" }, Limit = 5 });
        Assert.Contains(recommended.Papers, p => p.Reason.Contains("your interest", StringComparison.Ordinal));

        var empty = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Rank.SearchAsync(new SearchRequest { Query = " " }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        var tooMany = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Rank.SearchAsync(new SearchRequest { Query = "qubits", Limit = 1001 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, tooMany.StatusCode);
    }

    [Fact]
    public async Task Embed_answers_unit_vectors_for_any_text_and_refuses_an_empty_request()
    {
        var response = await Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest { Texts = { "The weather is lovely today.", "", "量子纠错" } });
        Assert.Equal(3, response.Embeddings.Count);
        Assert.All(response.Embeddings, e => Assert.Equal(1.0, Math.Sqrt(e.Values.Sum(v => (double)v * v)), 3));
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task A_query_is_embedded_by_the_query_model_the_same_whatever_is_embedded_with_it()
    {
        var model = await Pipeline.Embed.GetModelAsync(new Contracts.Embed.V1.GetModelRequest());
        Assert.Equal("sentence-transformers/all-MiniLM-L6-v2", model.Id);
        Assert.Equal(model.Id + "+int8", model.QueryModel);

        const string query = "contrastive pretraining of protein language models";
        var alone = await Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest { Texts = { query }, Kind = Contracts.Embed.V1.TextKind.Query });
        Assert.Equal(model.QueryModel, alone.Model);

        // In one call with other texts, and from other callers at the same time: int8 activations
        // are scaled per model run, so a query that shared a run would come out different.
        var others = Enumerable.Range(0, 6).Select(i => Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest
        {
            Texts = { $"a much longer text about the thermal conductivity of layered materials, number {i}, with many more words in it" },
            Kind = Contracts.Embed.V1.TextKind.Query,
        }).ResponseAsync).ToArray();
        var mixed = await Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest
        {
            // A long text padded against a short one moves the short one's vector most.
            Texts = { string.Join(' ', Enumerable.Repeat("Diffusion models for protein design.", 30)), $"{query} ", "曲面" },
            Kind = Contracts.Embed.V1.TextKind.Query,
        });
        await Task.WhenAll(others);
        var again = mixed.Embeddings[1].Values.ToArray();
        Assert.Equal(alone.Embeddings[0].Values.ToArray(), again, new ToleranceComparer(1e-6f));

        // The document model for the same text: a different vector (other weights), close in meaning.
        var document = await Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest { Texts = { query } });
        Assert.Equal(model.Id, document.Model);
        var cosine = alone.Embeddings[0].Values.Zip(document.Embeddings[0].Values, (a, b) => (double)a * b).Sum();
        Assert.InRange(cosine, 0.97, 0.99999);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Embed.EmbedAsync(new Contracts.Embed.V1.EmbedRequest { Texts = { query }, Kind = (Contracts.Embed.V1.TextKind)7 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }

    [Fact]
    public async Task Every_service_is_ready_over_http_and_serving_over_grpc_health()
    {
        using var http = new HttpClient();
        foreach (var name in PipelineFixture.ServiceNames)
        {
            var ready = await http.GetAsync(new Uri(Pipeline.HttpBase(name), "/health/ready"));
            var report = await ready.Content.ReadAsStringAsync();
            Assert.True(ready.IsSuccessStatusCode, $"{name}: {report}");
            // Ready means the service's own Redis and the bus both answer.
            Assert.Contains("\"redis\"", report);
            Assert.Contains("masstransit", report, StringComparison.OrdinalIgnoreCase);
            // And the consumer watchdog has found every consumer the bus reports ready on the broker.
            Assert.Contains("\"bus-consumers\":{\"status\":\"Healthy\"", report);
            // No watchdog restart on a broker nobody disturbed (a false alarm restarts every 30 s).
            Assert.Equal(0, Pipeline.Services[name].Restarts);
            var health = new Grpc.Health.V1.Health.HealthClient(Pipeline.Channel(name));
            var answer = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
            Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, answer.Status);
        }
    }

    [Fact]
    public async Task Every_service_serves_its_metrics_for_prometheus_on_its_http_port()
    {
        using var http = new HttpClient();
        foreach (var name in PipelineFixture.ServiceNames)
        {
            var answer = await http.GetAsync(new Uri(Pipeline.HttpBase(name), "/metrics"));
            var text = await answer.Content.ReadAsStringAsync();

            Assert.True(answer.IsSuccessStatusCode, $"{name}: {(int)answer.StatusCode}");
            Assert.StartsWith("text/plain", answer.Content.Headers.ContentType?.MediaType ?? "");
            // Labelled with the service (its resource), with the runtime's and the HTTP server's metrics.
            Assert.Contains($"service_name=\"{name}\"", text);
            Assert.Contains("# TYPE dotnet_gc_", text);
            Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text);
        }
    }
}
