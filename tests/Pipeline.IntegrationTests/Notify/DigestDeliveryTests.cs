using System.Net;
using Grpc.Core;
using MassTransit;
using MimeKit;
using Pipeline.Contracts.Ingest.V1;
using Pipeline.Contracts.Messages;
using Pipeline.Contracts.Notify.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Testing;
using StackExchange.Redis;

namespace Pipeline.IntegrationTests.Notify;

/// <summary>
/// Digests and what a subscriber touches, against the running pipeline: the digest email with cards
/// from rank, sent once per period however often it is asked for, through SMTP outages and bounces;
/// the preferences link and page; the limits on Subscribe.
/// </summary>
public sealed class DigestDeliveryTests(RabbitMqFixture rabbit, PipelineFixture pipeline) : PipelineTestBase(rabbit, pipeline)
{
    [Fact]
    public async Task SendDigestNow_emails_a_digest_with_cards_from_Recommend_and_logs_the_papers_it_sent()
    {
        var (email, id, paper) = await DigestSubscriberWithAPaperAsync(DigestPapers.CoralReefs());

        var answer = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);

        Assert.Equal("sent", answer.Outcome);
        var digest = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival)).Single().Message;
        Assert.Matches(@"^\d+ new papers? on coral reef bleaching during marine", digest.Subject);
        Assert.Contains("class=\"card\"", digest.HtmlBody);
        Assert.Contains(WebUtility.HtmlEncode(paper.Title), digest.HtmlBody);
        Assert.Contains($"https://arxiv.org/pdf/{paper.Id}", digest.TextBody);
        Assert.NotNull(digest.Headers["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", digest.Headers["List-Unsubscribe-Post"]);
        Assert.Equal($"digest.{id}.{answer.Period}@pipeline.localhost", digest.MessageId);

        var log = await Pipeline.Notify.ListDeliveriesAsync(new ListDeliveriesRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        var delivery = Assert.Single(log.Deliveries);
        Assert.Equal(("digest", "sent", answer.Period, digest.MessageId), (delivery.Kind, delivery.Status, delivery.Period, delivery.MessageId));
        Assert.Contains(paper.Id, delivery.PaperIds);
        Assert.Equal(answer.Delivery.PaperIds, delivery.PaperIds);
        var subscriber = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal(answer.Period, subscriber.LastDigestPeriod);
    }

    [Fact]
    public async Task A_full_digest_keeps_a_place_for_a_paper_by_a_followed_author_on_another_topic_with_the_author_as_its_reason()
    {
        // Followed as "Rosalind X"; the paper, far from the interest, writes "X, R." (the surname unique to this test).
        // Two papers per digest, two relevant papers of the day: one of them gives its place.
        var surname = $"Quill{Guid.NewGuid():N}"[..16];
        var (email, id, onTopic) = await DigestSubscriberWithAPaperAsync(DigestPapers.Lichens(), [$"Rosalind {surname}"], maxPapers: 2);
        var alsoOnTopic = DigestPapers.LichenGrowth();
        var (_, byAuthor) = DigestPapers.ChurchBells();
        byAuthor.Authors.Clear();
        byAuthor.Authors.Add($"{surname}, R.");
        var (_, byOthers) = DigestPapers.ChessEndgames();
        await SubmitAsync(alsoOnTopic);
        await SubmitAsync(byAuthor);
        await SubmitAsync(byOthers);
        await WaitUntilRankKnowsAsync(byAuthor.Title);
        await WaitUntilRankKnowsAsync(byOthers.Title);
        // Both lichen papers are relevant: without the followed author they would fill the digest.
        await WaitUntilAsync(async () => (await Pipeline.Rank.RecommendAsync(new Contracts.Rank.V1.RecommendRequest { Interests = { "lichen symbiosis in arctic tundra" }, Limit = 50 }))
            .Papers.Select(p => p.Id).Intersect([onTopic.Id, alsoOnTopic.Id]).Count() == 2, "rank recommends both lichen papers");

        var answer = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);

        Assert.Equal("sent", answer.Outcome);
        // The digest's papers first, then its trending section's.
        Assert.Single(answer.Delivery.PaperIds.Take(2), p => p == onTopic.Id || p == alsoOnTopic.Id);
        Assert.Equal(byAuthor.Id, answer.Delivery.PaperIds[1]);
        var digest = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival)).Single().Message;
        // The papers picked for the subscriber come before the trending section: the relevant one first, the followed author's after it.
        var picked = digest.TextBody!.Split("Trending")[0];
        picked = picked[picked.IndexOf("1. ", StringComparison.Ordinal)..];
        Assert.True(picked.StartsWith($"1. {onTopic.Title}", StringComparison.Ordinal) || picked.StartsWith($"1. {alsoOnTopic.Title}", StringComparison.Ordinal), picked);
        Assert.Contains($"2. {byAuthor.Title}", picked);
        Assert.DoesNotContain("3. ", picked);
        Assert.Contains($"Why: by {surname}, R., whom you follow", picked);
        Assert.DoesNotContain(byOthers.Title, picked);
    }

    [Fact]
    public async Task A_digests_trending_section_leaves_out_a_paper_the_subscriber_was_sent_months_ago()
    {
        var (email, id, paper) = await DigestSubscriberWithAPaperAsync(DigestPapers.SeaOtters());
        // Today's two hottest papers, far from the subscriber's interest: the trending section's material.
        var (_, sentBefore) = DigestPapers.StainedGlass();
        var (_, news) = DigestPapers.CheeseRinds();
        (sentBefore.Upvotes, news.Upvotes) = (9_000_000, 8_000_000);
        await SubmitAsync(sentBefore, news);
        await WaitUntilAsync(async () => (await Pipeline.Rank.TrendingAsync(new Contracts.Rank.V1.TrendingRequest { Limit = 2 })).Papers
            .Select(p => p.Id).SequenceEqual([sentBefore.Id, news.Id]), "both lead today's trending page");

        // One of them went out to the subscriber in a digest months ago: notify's own log of
        // recent deliveries no longer holds it, rank was told (DigestSent).
        await PublishAsync(new DigestSent(id, "2026-06-30", [sentBefore.Id], DateTimeOffset.UtcNow.AddDays(-150)));
        await WaitUntilAsync(async () => !(await Pipeline.Rank.TrendingAsync(new Contracts.Rank.V1.TrendingRequest { Limit = 20, SubscriberId = id }, PipelineFixture.WithApiKey)).Papers
            .Any(p => p.Id == sentBefore.Id), "rank knows it was sent");

        var answer = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);

        Assert.Equal("sent", answer.Outcome);
        Assert.Equal(paper.Id, answer.Delivery.PaperIds[0]);
        Assert.Contains(news.Id, answer.Delivery.PaperIds);
        Assert.DoesNotContain(sentBefore.Id, answer.Delivery.PaperIds);
        var digest = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival)).Single().Message;
        var text = digest.TextBody!;
        var trending = text[text.IndexOf("Trending", StringComparison.Ordinal)..];
        Assert.Contains(news.Title, trending);
        Assert.DoesNotContain(sentBefore.Title, text);
    }

    [Fact]
    public async Task Opening_the_confirmation_link_confirms_nothing_until_its_button_is_pressed()
    {
        // Mail gateways open every link in an email to scan it: that alone must not subscribe anyone.
        var email = $"scanned-{Guid.NewGuid():N}@example.org";
        var subscribed = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest { Email = email, Cadence = Cadence.Daily, Interests = { "coastal erosion" } }, PipelineFixture.WithApiKey);
        var confirmation = await Pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm"), Arrival);
        var link = PipelineFixture.LinkIn(confirmation.Message, "confirm");
        using var http = new HttpClient();

        using var scanned = await http.GetAsync(link);
        Assert.Equal(HttpStatusCode.OK, scanned.StatusCode);
        Assert.Contains("<button", await scanned.Content.ReadAsStringAsync());
        var afterScan = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = subscribed.SubscriberId }, PipelineFixture.WithApiKey);
        Assert.Equal(SubscriberStatus.Pending, afterScan.Status);

        using var pressed = await PipelineFixture.ConfirmThroughPageAsync(http, link);
        Assert.Equal(HttpStatusCode.OK, pressed.StatusCode);
        Assert.Contains("Subscription confirmed", await pressed.Content.ReadAsStringAsync());
        var afterPress = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = subscribed.SubscriberId }, PipelineFixture.WithApiKey);
        Assert.Equal(SubscriberStatus.Active, afterPress.Status);
    }

    [Fact]
    public async Task Asking_twice_for_the_same_period_sends_one_digest_and_answers_with_it_again()
    {
        var (email, id, _) = await DigestSubscriberWithAPaperAsync(DigestPapers.Sourdough());

        var first = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        var second = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);

        Assert.Equal(("sent", "already_sent"), (first.Outcome, second.Outcome));
        Assert.Equal(first.Delivery.Id, second.Delivery.Id);
        Assert.Equal(first.Delivery.PaperIds, second.Delivery.PaperIds);
        await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsDigestTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsDigestTo(e.Message, email));
    }

    [Fact]
    public async Task After_downtime_the_scheduler_sends_the_missed_digest_once_and_then_waits_for_the_next_period()
    {
        var (email, id, paper) = await DigestSubscriberWithAPaperAsync(DigestPapers.VolcanicAsh());

        // As if notify had been down since yesterday: the digest was due a day ago.
        await ScheduleAsync(id, DateTimeOffset.UtcNow.AddDays(-1));

        var digest = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival)).Single().Message;
        Assert.Contains(paper.Title, digest.TextBody);
        // Several ticks later: still one, and the next is due in the future.
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(4), m => IsDigestTo(m, email));
        Assert.True(await DueAtAsync(id) > DateTimeOffset.UtcNow);
        var subscriber = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal(subscriber.LastDigestPeriod, (await Pipeline.Notify.ListDeliveriesAsync(new ListDeliveriesRequest { SubscriberId = id }, PipelineFixture.WithApiKey)).Deliveries.Single().Period);
    }

    [Fact]
    public async Task A_due_digest_waits_out_an_smtp_outage_and_is_delivered_once_when_the_server_is_back()
    {
        var (email, id, _) = await DigestSubscriberWithAPaperAsync(DigestPapers.Honeybees());
        await Pipeline.Smtp.StopAsync();
        try
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() =>
                Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);

            await ScheduleAsync(id, DateTimeOffset.UtcNow.AddMinutes(-1));
            // The scheduler tries and fails for a while (connection refused), backing off.
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
        finally
        {
            await Pipeline.Smtp.StartAsync();
        }

        await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(6), m => IsDigestTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsDigestTo(e.Message, email));
    }

    [Fact]
    public async Task An_alert_whose_message_the_server_refuses_is_kept_not_sent_to_the_error_queue_and_arrives_once_when_it_is_taken()
    {
        var email = $"refused-{Guid.NewGuid():N}@example.org";
        var (interest, paper) = DigestPapers.WhaleSong();
        var id = await SubscribeAndConfirmAsync(email, interest);
        var kept = $"alert:{id}:{paper.Id}";
        // A content filter refuses this one message for good (554 to its data): not the address,
        // not the server. The alert used to go through the bus's retries to the error queue.
        Pipeline.Smtp.RejectMessages(554, m => m.To.Mailboxes.Any(a => a.Address == email), "5.7.1 Message refused by content filter");
        try
        {
            await SubmitAsync(paper);

            await WaitUntilAsync(async () => await KeptAlertAsync(kept) is not null, "notify keeps the refused alert");
            Assert.Contains("content filter", (await KeptAlertAsync(kept))!.Value.LastError);
            Assert.True((await Broker.QueueDepthAsync(Pipeline.VirtualHost, "notify-paper-matched_error") ?? 0) == 0, "no alert in the error queue");
            // The address still takes mail: the subscription is not marked bouncing.
            var subscriber = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
            Assert.Equal(SubscriberStatus.Active, subscriber.Status);
        }
        finally
        {
            Pipeline.Smtp.ClearRejections();
        }

        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;
        Assert.Contains(paper.Title, alert.TextBody);
        await WaitUntilAsync(async () => await KeptAlertAsync(kept) is null, "notify forgets the alert once it is sent");
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(3), m => IsAlertTo(m, email));
    }

    [Fact]
    public async Task An_alert_smtp_cannot_take_is_kept_by_notify_not_the_broker_and_arrives_once_in_the_papers_trace_when_smtp_is_back()
    {
        var email = $"outage-{Guid.NewGuid():N}@example.org";
        var (interest, paper) = DigestPapers.BirdMigration();
        var id = await SubscribeAndConfirmAsync(email, interest);
        var kept = $"alert:{id}:{paper.Id}";
        await Pipeline.Smtp.StopAsync();
        try
        {
            await SubmitAsync(paper);

            // Notify keeps the alert and keeps trying it; the broker's message is acknowledged, so
            // an outage of any length holds nothing in a handler and parks nothing in the error queue.
            await WaitUntilAsync(async () => (await KeptAlertAsync(kept))?.Attempts >= 2, "notify keeps the alert and tries it again");
            Assert.Contains("SMTP server", (await KeptAlertAsync(kept))!.Value.LastError);
            Assert.Equal(0, await Broker.QueueDepthAsync(Pipeline.VirtualHost, "notify-paper-matched"));
            Assert.True((await Broker.QueueDepthAsync(Pipeline.VirtualHost, "notify-paper-matched_error") ?? 0) == 0, "no alert in the error queue");
            Assert.DoesNotContain(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
            // An operator sees the alerts waiting in notify's metrics, and the outage in its
            // readiness, which stays 200: notify still takes subscriptions and keeps every alert.
            await Pipeline.Traces.WaitForMetricAsync("notify", "pipeline.notify.alerts.deferred", p => p.Value >= 1, Arrival);
            var (code, smtp) = await SmtpReadinessAsync();
            Assert.Equal((HttpStatusCode.OK, "Degraded"), (code, smtp.GetProperty("status").GetString()));
            Assert.Matches(@"The SMTP server has been failing since .*; [1-9]\d* alerts kept until it answers", smtp.GetProperty("description").GetString());
        }
        finally
        {
            await Pipeline.Smtp.StartAsync();
        }

        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival)).Single().Message;
        Assert.Contains(paper.Title, alert.TextBody);
        await WaitUntilAsync(async () => await KeptAlertAsync(kept) is null, "notify forgets the alert once it is sent");
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(4), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
        Assert.Equal("Healthy", (await SmtpReadinessAsync()).Check.GetProperty("status").GetString());

        // The late send is still in the paper's trace, which ingest's SubmitPapers began.
        var retry = await Pipeline.Traces.WaitForSpanAsync(s => s.Name == "send deferred alert" && s.Attribute("paper.id") == paper.Id
            && s.Attribute("notify.outcome") == "Sent", Arrival);
        var send = await Pipeline.Traces.WaitForSpanAsync(s => s.Name == "smtp send" && s.ParentSpanId == retry.SpanId, Arrival);
        Assert.Equal(alert.MessageId, send.Attribute("email.message_id"));
        var root = await Pipeline.Traces.WaitForSpanAsync(s => s.TraceId == retry.TraceId && s.ServiceName == "ingest" && s.Name.Contains("SubmitPapers"), Arrival);
        Assert.Null(root.ParentSpanId);
    }

    [Fact]
    public async Task An_alert_kept_through_an_smtp_outage_survives_a_notify_crash_and_arrives_once()
    {
        var email = $"crash-{Guid.NewGuid():N}@example.org";
        var (interest, paper) = DigestPapers.Monsoon();
        var kept = $"alert:{await SubscribeAndConfirmAsync(email, interest)}:{paper.Id}";
        var notify = Pipeline.Services["notify"];
        await Pipeline.Smtp.StopAsync();
        try
        {
            await SubmitAsync(paper);
            await WaitUntilAsync(async () => await KeptAlertAsync(kept) is not null, "notify keeps the alert");
            // The broker no longer holds the message: the alert lives in notify's Redis alone.
            Assert.Equal(0, await Broker.QueueDepthAsync(Pipeline.VirtualHost, "notify-paper-matched"));
            await notify.KillAsync();
            await Pipeline.Smtp.StartAsync();
            await Pipeline.StartServiceAsync("notify");
        }
        finally
        {
            if (!Pipeline.Smtp.IsRunning)
            {
                await Pipeline.Smtp.StartAsync();
            }

            if (!notify.IsRunning)
            {
                await Pipeline.StartServiceAsync("notify");
            }
        }

        await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival);
        await WaitUntilAsync(async () => await KeptAlertAsync(kept) is null, "notify forgets the alert once it is sent");
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(4), m => IsAlertTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, email));
    }

    [Fact]
    public async Task While_the_smtp_server_takes_connections_and_never_answers_a_new_alert_is_kept_without_a_try_and_each_arrives_once()
    {
        var first = $"hang-{Guid.NewGuid():N}@example.org";
        var second = $"hang-{Guid.NewGuid():N}@example.org";
        var (firstInterest, firstPaper) = DigestPapers.WildfireSmoke();
        var (secondInterest, secondPaper) = DigestPapers.TidalEnergy();
        var firstKey = $"alert:{await SubscribeAndConfirmAsync(first, firstInterest)}:{firstPaper.Id}";
        var secondKey = $"alert:{await SubscribeAndConfirmAsync(second, secondInterest)}:{secondPaper.Id}";
        Pipeline.Smtp.Pause();
        try
        {
            // The first alert runs into the SMTP timeout (Smtp:TimeoutSeconds, 30 s) and is kept.
            await SubmitAsync(firstPaper);
            await WaitUntilAsync(async () => await KeptAlertAsync(firstKey) is not null, "notify keeps the first alert after the SMTP timeout");
            Assert.Contains("The SMTP server", (await KeptAlertAsync(firstKey))!.Value.LastError);

            // The server has not answered since: the next alert is kept at once, not tried.
            await SubmitAsync(secondPaper);
            await WaitUntilAsync(async () => await KeptAlertAsync(secondKey) is not null, "notify keeps the second alert");
            var kept = (await KeptAlertAsync(secondKey))!.Value;
            Assert.Equal(0, kept.Attempts);
            Assert.StartsWith("Not tried: the SMTP server has been failing since", kept.LastError);
            Assert.Equal(0, await Broker.QueueDepthAsync(Pipeline.VirtualHost, "notify-paper-matched"));
        }
        finally
        {
            Pipeline.Smtp.Resume();
        }

        foreach (var email in new[] { first, second })
        {
            await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, email), 1, Arrival);
        }

        await WaitUntilAsync(async () => await KeptAlertAsync(firstKey) is null && await KeptAlertAsync(secondKey) is null, "notify forgets both alerts once sent");
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(4), m => IsAlertTo(m, first) || IsAlertTo(m, second));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, first));
        Assert.Single(Pipeline.Smtp.Messages, e => IsAlertTo(e.Message, second));
    }

    [Fact]
    public async Task An_address_refused_with_550_is_marked_bouncing_and_gets_no_more_mail()
    {
        var (email, id, _) = await DigestSubscriberWithAPaperAsync(DigestPapers.Glaciers());
        Pipeline.Smtp.RejectRecipient(email, 550, "5.1.1 mailbox unavailable");
        try
        {
            var answer = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
            Assert.Equal("bounced", answer.Outcome);

            var subscriber = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
            Assert.Equal(SubscriberStatus.Bouncing, subscriber.Status);
            Assert.Contains("550", subscriber.BounceReason);
            var log = await Pipeline.Notify.ListDeliveriesAsync(new ListDeliveriesRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
            Assert.Equal("bounced", log.Deliveries.Single().Status);
            // An operator sees the refusal in notify's metrics.
            await Pipeline.Traces.WaitForMetricAsync("notify", "pipeline.notify.emails",
                p => p.Attributes.GetValueOrDefault("kind") == "digest" && p.Attributes.GetValueOrDefault("outcome") == "rejected" && p.Value >= 1, Arrival);

            // Neither a digest nor an alert tries the address again.
            var again = await Assert.ThrowsAsync<RpcException>(() =>
                Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey).ResponseAsync);
            Assert.Equal(StatusCode.FailedPrecondition, again.StatusCode);
            await PublishAsync(new PaperMatched(id, Summary(DigestPapers.Batteries().Paper), 0.9, "glacier calving in Greenland", "test", DateTimeOffset.UtcNow));
            await ScheduleAsync(id, DateTimeOffset.UtcNow.AddDays(-1));
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.Single(Pipeline.Smtp.Rejected.Snapshot(), r => string.Equals(r.Recipient, email, StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain(Pipeline.Smtp.Messages, e => IsTo(e.Message, email) && !e.Subject.Contains("Confirm", StringComparison.Ordinal));
        }
        finally
        {
            Pipeline.Smtp.ClearRejections();
        }
    }

    [Fact]
    public async Task The_preferences_link_of_a_digest_updates_the_subscription_over_grpc()
    {
        var (email, id, _) = await DigestSubscriberWithAPaperAsync(DigestPapers.AncientDna());
        await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        var digest = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival)).Single().Message;
        var token = PipelineFixture.TokenOf(PipelineFixture.LinkIn(digest, "preferences"));

        var updated = await Pipeline.Notify.UpdatePreferencesAsync(new UpdatePreferencesRequest
        {
            Token = token, Interests = { "speech recognition", "machine translation" }, Cadence = Cadence.Weekly, Weekday = 5, Hour = 18,
            Timezone = "Asia/Tokyo", MaxPapers = 7, NoteWhenEmpty = true, Categories = { "cs.CL" },
        });

        Assert.Equal((Cadence.Weekly, 5, 18, "Asia/Tokyo", 7, true), (updated.Cadence, updated.Weekday, updated.Hour, updated.Timezone, updated.MaxPapers, updated.NoteWhenEmpty));
        var stored = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal(["speech recognition", "machine translation"], stored.Interests);
        Assert.Equal(["cs.CL"], stored.Categories);
        // The next digest is due on a Friday at 18:00 in Tokyo (09:00 UTC).
        var due = (await DueAtAsync(id))!.Value;
        Assert.Equal((DayOfWeek.Friday, 9), (due.UtcDateTime.DayOfWeek, due.UtcDateTime.Hour));

        var unsubscribeToken = PipelineFixture.TokenOf(PipelineFixture.LinkIn(digest, "unsubscribe"));
        var wrong = await Assert.ThrowsAsync<RpcException>(() =>
            Pipeline.Notify.UpdatePreferencesAsync(new UpdatePreferencesRequest { Token = unsubscribeToken, Hour = 3 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, wrong.StatusCode);
    }

    [Fact]
    public async Task The_preferences_page_shows_the_current_choices_and_saves_new_ones()
    {
        var (email, id, link) = await PreferencesLinkAsync(DigestPapers.StreetTrees());
        using var http = new HttpClient();

        var form = await http.GetStringAsync(link);
        Assert.Contains(email, form);
        Assert.Contains("street trees cooling urban heat islands</textarea>", form);
        Assert.Contains("<option value=\"daily\" selected>", form);

        var saved = await http.PostAsync(new Uri(Pipeline.HttpBase("notify"), "/preferences"), new FormUrlEncodedContent([
            new("token", PipelineFixture.TokenOf(link)), new("interests", "quantum error correction\nlogical qubits"), new("cadence", "daily"),
            new("hour", "21"), new("timezone", "America/New_York"), new("max_papers", "5"), new("weekday", "1"), new("note_when_empty", "on"),
        ]));
        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        Assert.Contains("Preferences saved", await saved.Content.ReadAsStringAsync());
        var stored = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal((21, "America/New_York", 5, true), (stored.Hour, stored.Timezone, stored.MaxPapers, stored.NoteWhenEmpty));
        Assert.Equal(["quantum error correction", "logical qubits"], stored.Interests);

        var forged = await http.GetAsync(new Uri(Pipeline.HttpBase("notify"), "/preferences?token=forged.token"));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
    }

    [Fact]
    public async Task The_preferences_page_shows_and_edits_followed_authors_and_categories_and_a_form_without_them_keeps_them()
    {
        // A topic of its own: two copies of one paper are near-duplicates, and Recommend lists only one.
        var (_, id, link) = await PreferencesLinkAsync(DigestPapers.PeatBogs());
        var token = PipelineFixture.TokenOf(link);
        await Pipeline.Notify.UpdatePreferencesAsync(new UpdatePreferencesRequest
        {
            Token = token, Cadence = Cadence.Daily, Hour = 7, Timezone = "UTC", Authors = { "Grace Hopper", "Łukasz Kaiser" }, Categories = { "cs.LG" },
        });
        using var http = new HttpClient();

        var form = await http.GetStringAsync(link);
        Assert.Contains("Grace Hopper\nŁukasz Kaiser</textarea>", WebUtility.HtmlDecode(form));
        Assert.Contains("name=\"categories\"", form);
        Assert.Contains("cs.LG</textarea>", form);

        // A form as the page sent it before it had these fields: what is stored stays.
        async Task<HttpResponseMessage> PostAsync(params KeyValuePair<string, string>[] fields) =>
            await http.PostAsync(new Uri(Pipeline.HttpBase("notify"), "/preferences"), new FormUrlEncodedContent(
                [new("token", token), new("interests", "carbon storage in peat bogs"), new("cadence", "daily"), new("hour", "8"), new("timezone", "UTC"), .. fields]));
        Assert.Equal(HttpStatusCode.OK, (await PostAsync()).StatusCode);
        var kept = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal(["Grace Hopper", "Łukasz Kaiser"], kept.Authors);
        Assert.Equal(["cs.LG"], kept.Categories);
        Assert.Equal(8, kept.Hour);

        // The fields as the page sends them now: edited, and emptied.
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(KeyValuePair.Create("authors", "Barbara Liskov\r\n\r\n G. Hopper "), KeyValuePair.Create("categories", ""))).StatusCode);
        var edited = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal(["Barbara Liskov", "G. Hopper"], edited.Authors);
        Assert.Empty(edited.Categories);

        // A line that is no name is refused with the reason, and nothing changes.
        var refused = await PostAsync(KeyValuePair.Create("authors", "Barbara Liskov\n..."));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("is not a name", WebUtility.HtmlDecode(await refused.Content.ReadAsStringAsync()));
        Assert.Equal(["Barbara Liskov", "G. Hopper"], (await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey)).Authors);
    }

    [Fact]
    public async Task Subscribe_for_an_address_already_subscribed_changes_nothing_and_tells_the_caller_nothing_of_it()
    {
        // Anyone may call Subscribe: the id of someone's subscription (with which rank answers
        // their recommendations) and its state are not the caller's to learn.
        var email = $"private-{Guid.NewGuid():N}@example.org";
        var id = await SubscribeDailyAndConfirmAsync(email, "tidal marsh sediments");

        var answer = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest { Email = email, Cadence = Cadence.Instant, Interests = { "something else" } });
        var fresh = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest { Email = $"fresh-{Guid.NewGuid():N}@example.org", Cadence = Cadence.Instant, Interests = { "something else" } });

        // The same answer as for an address never seen: it tells nothing of the subscription.
        Assert.Equal(fresh, answer);
        Assert.Equal((SubscriberStatus.Pending, ""), (answer.Status, answer.SubscriberId));
        var stored = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Equal((SubscriberStatus.Active, "tidal marsh sediments"), (stored.Status, stored.Interests.Single()));
    }

    [Fact]
    public async Task Subscribe_with_a_cadence_this_version_does_not_know_is_refused_and_sends_nothing()
    {
        var email = $"future-client-{Guid.NewGuid():N}@example.org";
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.SubscribeAsync(
            new SubscribeRequest { Email = email, Cadence = (Cadence)7, Interests = { "lichens" } }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("cadence 7", e.Status.Detail);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(2), m => IsTo(m, email));
    }

    [Fact]
    public async Task Subscribe_with_a_wrong_api_key_is_refused_and_sends_nothing()
    {
        // The key only adds the id to the answer; a wrong one is a mistake to report, not to ignore.
        var email = $"wrong-key-{Guid.NewGuid():N}@example.org";
        var e = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.SubscribeAsync(
            new SubscribeRequest { Email = email, Cadence = Cadence.Daily, Interests = { "lichens" } },
            new Metadata { { "x-api-key", "not-the-key-of-this-pipeline" } }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(2), m => IsTo(m, email));
    }

    [Fact]
    public async Task Repeated_Subscribe_calls_for_one_address_are_limited_and_send_one_confirmation()
    {
        var email = $"eager-{Guid.NewGuid():N}@example.org";
        var request = new SubscribeRequest { Email = email, Cadence = Cadence.Daily, Interests = { "graph neural networks" } };
        string? id = null;
        for (var i = 0; i < 5; i++)
        {
            request.Hour = i;
            var answer = await Pipeline.Notify.SubscribeAsync(request, PipelineFixture.WithApiKey);
            Assert.True(id is null || id == answer.SubscriberId, "one subscriber per address");
            id = answer.SubscriberId;
        }

        var limited = await Assert.ThrowsAsync<RpcException>(() => Pipeline.Notify.SubscribeAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        // The pending subscription has the latest preferences, and the inbox got one confirmation.
        var pending = await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id! }, PipelineFixture.WithApiKey);
        Assert.Equal((SubscriberStatus.Pending, 4), (pending.Status, pending.Hour));
        await Pipeline.Smtp.WaitForMessagesAsync(m => IsTo(m, email), 1, Arrival);
        await Pipeline.Smtp.AssertNoMoreMessagesAsync(TimeSpan.FromSeconds(2), m => IsTo(m, email));
        Assert.Single(Pipeline.Smtp.Messages, e => IsTo(e.Message, email));
    }

    [Fact]
    public async Task A_digests_spans_link_to_the_traces_of_the_papers_in_it()
    {
        // An instant subscriber makes notify see the paper's trace (PaperMatched) before the digest.
        var topic = DigestPapers.Exoplanets();
        var instant = $"tracer-{Guid.NewGuid():N}@example.org";
        await SubscribeAndConfirmAsync(instant, topic.Interest);
        var (email, id, paper) = await DigestSubscriberWithAPaperAsync(topic);
        var alert = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsAlertTo(m, instant), 1, Arrival)).Single().Message;
        var alertSend = await Pipeline.Traces.WaitForSpanAsync(s => s.Name == "smtp send" && s.Attribute("email.message_id") == alert.MessageId, Arrival);

        var answer = await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        Assert.Contains(paper.Id, answer.Delivery.PaperIds);

        var compose = await Pipeline.Traces.WaitForSpanAsync(s => s.Name == "compose digest" && s.Attribute("notify.subscriber_id") == id, Arrival);
        Assert.Equal("notify", compose.ServiceName);
        Assert.Contains(compose.Links, l => l.TraceId == alertSend.TraceId);
        var send = await Pipeline.Traces.WaitForSpanAsync(s => s.Name == "smtp send" && s.Attribute("email.message_id") == answer.Delivery.MessageId, Arrival);
        Assert.Contains(send.Links, l => l.TraceId == alertSend.TraceId);
        _ = email;
    }

    /// <summary>A confirmed daily subscriber and an on-topic paper that rank has indexed.</summary>
    /// <summary>A digest subscriber's preferences link, as their first digest carries it.</summary>
    private async Task<(string Email, string Id, Uri Link)> PreferencesLinkAsync((string Interest, Paper Paper) topic)
    {
        var (email, id, _) = await DigestSubscriberWithAPaperAsync(topic);
        await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        var digest = (await Pipeline.Smtp.WaitForMessagesAsync(m => IsDigestTo(m, email), 1, Arrival)).Single().Message;
        return (email, id, PipelineFixture.LinkIn(digest, "preferences"));
    }

    private async Task<(string Email, string Id, Paper Paper)> DigestSubscriberWithAPaperAsync((string Interest, Paper Paper) topic, params string[] authors) =>
        await DigestSubscriberWithAPaperAsync(topic, authors, maxPapers: 0);

    /// <summary>A confirmed daily subscriber (<paramref name="maxPapers"/> a digest, 0 for the default) and one paper rank recommends to them.</summary>
    private async Task<(string Email, string Id, Paper Paper)> DigestSubscriberWithAPaperAsync((string Interest, Paper Paper) topic, string[] authors, int maxPapers)
    {
        var (interest, paper) = topic;
        var email = $"digest-{Guid.NewGuid():N}@example.org";
        var subscribed = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = email, Cadence = Cadence.Daily, Hour = (DateTime.UtcNow.Hour + 12) % 24, Interests = { interest }, Authors = { authors }, MaxPapers = maxPapers,
        }, PipelineFixture.WithApiKey);
        var confirmation = await Pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm"), Arrival);
        using (var http = new HttpClient())
        {
            Assert.Equal(HttpStatusCode.OK, (await PipelineFixture.ConfirmThroughPageAsync(http, PipelineFixture.LinkIn(confirmation.Message, "confirm"))).StatusCode);
        }

        await WaitUntilAsync(async () => await RankStatusAsync(subscribed.SubscriberId) == StatusCode.OK, "rank knows the new subscriber");
        await SubmitAsync(paper);
        await WaitUntilRankKnowsAsync(paper.Title);
        // The paper is new to rank after the subscriber joined; Recommend finds it.
        await WaitUntilAsync(async () => (await Pipeline.Rank.RecommendAsync(new Contracts.Rank.V1.RecommendRequest { SubscriberId = subscribed.SubscriberId, Limit = 50 }, PipelineFixture.WithApiKey))
            .Papers.Any(p => p.Id == paper.Id), $"rank recommends {paper.Id}");
        return (email, subscribed.SubscriberId, paper);
    }

    /// <summary>Notify's /health/ready: the status code and its <c>smtp</c> entry.</summary>
    private async Task<(HttpStatusCode Code, System.Text.Json.JsonElement Check)> SmtpReadinessAsync()
    {
        using var http = new HttpClient();
        var ready = await http.GetAsync(new Uri(Pipeline.HttpBase("notify"), "/health/ready"));
        using var body = System.Text.Json.JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
        return (ready.StatusCode, body.RootElement.GetProperty("checks").GetProperty("smtp").Clone());
    }

    /// <summary>The alert notify keeps in its Redis while SMTP cannot take it (attempts, last error), or null.</summary>
    private async Task<(int Attempts, string LastError)?> KeptAlertAsync(string deliveryKey)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["notify"].ConnectionString);
        var json = await redis.GetDatabase().StringGetAsync($"notify:alert-deferred:{deliveryKey}");
        if (json.IsNullOrEmpty)
        {
            return null;
        }

        using var alert = System.Text.Json.JsonDocument.Parse(json.ToString());
        return (alert.RootElement.GetProperty("attempts").GetInt32(), alert.RootElement.GetProperty("lastError").GetString() ?? "");
    }

    private async Task ScheduleAsync(string subscriberId, DateTimeOffset due)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["notify"].ConnectionString);
        await redis.GetDatabase().SortedSetAddAsync("notify:digest-due", subscriberId, due.ToUnixTimeMilliseconds());
    }

    private async Task<DateTimeOffset?> DueAtAsync(string subscriberId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["notify"].ConnectionString);
        return await redis.GetDatabase().SortedSetScoreAsync("notify:digest-due", subscriberId) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds((long)ms) : null;
    }

    private static PaperSummary Summary(Paper paper) =>
        new(paper.Id, paper.Version, paper.Title, paper.Abstract, paper.Authors, paper.Categories, null, $"https://arxiv.org/abs/{paper.Id}", paper.Source, 0);

    private static bool IsDigestTo(MimeMessage message, string email) =>
        IsTo(message, email) && (message.MessageId ?? "").StartsWith("digest.", StringComparison.Ordinal);
}
