using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Pipeline.Contracts.Notify.V1;
using Pipeline.IntegrationTests.Flow;
using Pipeline.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace Pipeline.IntegrationTests.Hostile;

/// <summary>
/// The links in notify's emails, used as a hostile or careless holder would: broken, tampered,
/// expired, meant for another page, replayed. Each gets a clear 400 page and changes nothing; a
/// replayed confirmation is harmless; markup in interests is escaped on every page.
/// </summary>
public sealed class HostileLinkTests(RabbitMqFixture rabbit, PipelineFixture pipeline) : PipelineTestBase(rabbit, pipeline)
{
    private static readonly HttpClient Http = new();

    private Uri Page(string path, string? token) =>
        new(Pipeline.HttpBase("notify"), token is null ? path : $"{path}?token={Uri.EscapeDataString(token)}");

    private Task<HttpResponseMessage> Open(string method, string path, string token) => method switch
    {
        "GET" => Http.GetAsync(Page(path, token)),
        "POST" when path == "/preferences" => Http.PostAsync(Page(path, null), new FormUrlEncodedContent([
            new("token", token), new("interests", "something else entirely"), new("cadence", "weekly"), new("hour", "3"), new("timezone", "UTC")])),
        _ => Http.PostAsync(Page(path, token), new StringContent("List-Unsubscribe=One-Click", Encoding.ASCII, "application/x-www-form-urlencoded")),
    };

    /// <summary>A link signed with notify's own key (kept in its Redis), as notify would sign it, but expired an hour ago.</summary>
    private async Task<string> ExpiredTokenAsync(string purpose, string subscriberId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Pipeline.Redis["notify"].ConnectionString);
        var stored = await redis.GetDatabase().StringGetAsync("notify:token-key");
        Assert.False(stored.IsNullOrEmpty, "notify keeps its token key in Redis when Tokens__SigningKey is not set");
        var key = Convert.FromBase64String(stored!);
        var expired = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var payload = Encoding.UTF8.GetBytes($"{purpose}|{subscriberId}|{expired}");
        return Base64Url(payload) + "." + Base64Url(HMACSHA256.HashData(key, payload));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private async Task<Subscriber> StateAsync(string id) =>
        await Pipeline.Notify.GetSubscriberAsync(new GetSubscriberRequest { SubscriberId = id }, PipelineFixture.WithApiKey);

    [Fact]
    public async Task A_refused_address_is_told_to_its_caller_and_kept_out_of_notifys_logs()
    {
        var marker = $"leak{Guid.NewGuid():N}";
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = $"{marker}@@example.org", Cadence = Cadence.Daily, Interests = { "honeybee swarming" },
        }, PipelineFixture.WithApiKey).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);

        // Logs are exported; subscribers appear in them by id only (docs/operations.md).
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(marker, await File.ReadAllTextAsync(Pipeline.Services["notify"].LogPath));
    }

    [Fact]
    public async Task Broken_tampered_expired_and_misdirected_links_get_a_clear_400_page_and_change_nothing_and_replays_are_harmless()
    {
        // A subscriber with markup in an interest, confirmed from the email, with a digest (or its
        // "nothing new" note) that carries the unsubscribe and preferences links.
        var email = $"hostile-links-{Guid.NewGuid():N}@example.org";
        var interest = HostileCorpus.String("interests", "script");
        var subscribed = await Pipeline.Notify.SubscribeAsync(new SubscribeRequest
        {
            Email = email, Cadence = Cadence.Daily, Hour = (DateTime.UtcNow.Hour + 12) % 24, NoteWhenEmpty = true, Interests = { interest },
        }, PipelineFixture.WithApiKey);
        var id = subscribed.SubscriberId;
        var confirmation = await Pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && (m.Subject ?? "").Contains("Confirm", StringComparison.Ordinal), Arrival);
        Assert.DoesNotContain("<script", confirmation.Message.HtmlBody!, StringComparison.OrdinalIgnoreCase);
        var confirmLink = PipelineFixture.LinkIn(confirmation.Message, "confirm");

        var confirmed = await PipelineFixture.ConfirmThroughPageAsync(Http, confirmLink);
        var confirmedPage = await confirmed.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        Assert.DoesNotContain("<script", confirmedPage, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;", confirmedPage);

        await Pipeline.Notify.SendDigestNowAsync(new SendDigestNowRequest { SubscriberId = id }, PipelineFixture.WithApiKey);
        var digest = await Pipeline.Smtp.WaitForMessageAsync(m => IsTo(m, email) && !(m.Subject ?? "").Contains("Confirm", StringComparison.Ordinal), Arrival);
        var confirmToken = PipelineFixture.TokenOf(confirmLink);
        var unsubscribeToken = PipelineFixture.TokenOf(PipelineFixture.LinkIn(digest.Message, "unsubscribe"));
        var preferencesToken = PipelineFixture.TokenOf(PipelineFixture.LinkIn(digest.Message, "preferences"));
        var preferencesPage = await Http.GetStringAsync(Page("/preferences", preferencesToken));
        Assert.DoesNotContain("<script", preferencesPage, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(&#39;interest&#39;)&lt;/script&gt; honeybee swarming</textarea>", preferencesPage);

        var before = await StateAsync(id);
        Assert.Equal(SubscriberStatus.Active, before.Status);

        // Every page, with every kind of bad link.
        var pages = new (string Method, string Path, string Purpose, string Valid)[]
        {
            ("GET", "/confirm", "Confirm", confirmToken),
            ("POST", "/confirm", "Confirm", confirmToken),
            ("GET", "/unsubscribe", "Unsubscribe", unsubscribeToken),
            ("POST", "/unsubscribe", "Unsubscribe", unsubscribeToken),
            ("GET", "/preferences", "Preferences", preferencesToken),
            ("POST", "/preferences", "Preferences", preferencesToken),
        };
        foreach (var (method, path, purpose, valid) in pages)
        {
            var dot = valid.IndexOf('.', StringComparison.Ordinal);
            var otherPurpose = valid == preferencesToken ? unsubscribeToken : preferencesToken;
            var bad = new (string Kind, string Token, string Says)[]
            {
                ("garbage", "not-a-token", "not one we sent"),
                ("markup", "\"><script>alert(1)</script>", "not one we sent"),
                ("truncated", valid[..^4], "not one we sent"),
                ("tampered", valid[..(dot - 2)] + (valid[dot - 2] == 'A' ? 'B' : 'A') + valid[(dot - 1)..], "not one we sent"),
                ("another page's", otherPurpose, "not meant for this"),
                ("expired", await ExpiredTokenAsync(purpose, id), "expired"),
                ("huge", new string('A', 4000) + "." + new string('B', 100), "not one we sent"),
            };
            foreach (var (kind, token, says) in bad)
            {
                using var response = await Open(method, path, token);
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{method} {path} with a {kind} link answered {(int)response.StatusCode}:\n{body}");
                Assert.Contains(says, body, StringComparison.Ordinal);
                Assert.DoesNotContain("<script", body, StringComparison.OrdinalIgnoreCase);
                Assert.Equal(before, await StateAsync(id));
            }
        }

        // A replayed confirmation is harmless: the same page, the same subscriber.
        var again = await Open("POST", "/confirm", confirmToken);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(before, await StateAsync(id));

        // Unsubscribing, then replaying that and the confirmation: still unsubscribed, and told why.
        Assert.Equal(HttpStatusCode.OK, (await Open("POST", "/unsubscribe", unsubscribeToken)).StatusCode);
        var unsubscribed = await StateAsync(id);
        Assert.Equal(SubscriberStatus.Unsubscribed, unsubscribed.Status);
        Assert.Equal(HttpStatusCode.OK, (await Open("POST", "/unsubscribe", unsubscribeToken)).StatusCode);
        var replayedConfirm = await Open("POST", "/confirm", confirmToken);
        Assert.Equal(HttpStatusCode.BadRequest, replayedConfirm.StatusCode);
        Assert.Contains("cancelled", await replayedConfirm.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var lateSave = await Open("POST", "/preferences", preferencesToken);
        Assert.Equal(HttpStatusCode.BadRequest, lateSave.StatusCode);
        Assert.Equal(unsubscribed, await StateAsync(id));
    }

    [Fact]
    public async Task A_preferences_form_of_a_megabyte_is_refused_before_it_is_read()
    {
        // The form is read before its token can be checked: whoever reaches the page could make
        // notify buffer 30 MB a request (Kestrel's default). A form over 64 KB gets a 413 page.
        var huge = new string('x', 1024 * 1024);
        // With "Expect: 100-continue" the client waits for the server's word before sending the
        // megabyte, so the 413 is read, not lost to a connection the server closed mid-upload.
        using var request = new HttpRequestMessage(HttpMethod.Post, Page("/preferences", null))
        {
            Content = new FormUrlEncodedContent([new("token", "not-checked-before-the-size"), new("interests", huge)]),
        };
        request.Headers.ExpectContinue = true;
        using var answer = await Http.SendAsync(request);
        var page = await answer.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, answer.StatusCode);
        Assert.Contains("64 KB", page);

        // A form of ordinary size still reaches the token check.
        using var small = await Http.PostAsync(Page("/preferences", null), new FormUrlEncodedContent([
            new("token", "not-a-token"), new("interests", "graph neural networks")]));
        Assert.Equal(HttpStatusCode.BadRequest, small.StatusCode);
    }
}
