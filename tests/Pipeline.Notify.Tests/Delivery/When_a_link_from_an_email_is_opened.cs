using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Pages;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// The pages behind the links in emails, served by Kestrel on loopback with notify's own
/// subscription logic over a real Redis and SMTP server, opened over HTTP as a reader's browser
/// opens them.
/// </summary>
public sealed partial class When_a_link_from_an_email_is_opened : IAsyncLifetime
{
    private NotifyRig _rig = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private DirectoryInfo _contentRoot = null!;

    public async Task InitializeAsync()
    {
        _rig = await NotifyRig.StartAsync(new NotifyOptions { SubscribePerAddressLimit = 100, SubscribePerClientLimit = 100, ConfirmationResendSeconds = 60 });
        // An empty content root: not notify's appsettings.json (copied beside the tests), whose fixed ports may be in use.
        _contentRoot = Directory.CreateTempSubdirectory("notify-pages-");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = _contentRoot.FullName });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_rig.Subscriptions);
        builder.Services.AddSingleton(_rig.Tokens);
        _app = builder.Build();
        _app.MapSubscriptionPages();
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(_app.Urls.First()) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
        await _rig.DisposeAsync();
        _contentRoot.Delete(recursive: true);
    }

    private static PreferencesRequest Daily(string interest) => new([interest], "daily", "UTC", 7, 10, 0, 1, false, [], [], []);

    private string LinkTo(string email, string path) =>
        Regex.Match(_rig.Smtp.Messages.Last(m => m.EnvelopeTo.Contains(email, StringComparer.OrdinalIgnoreCase)).Message.TextBody ?? "", $@"https?://\S+(/{path}\?token=\S+)").Groups[1].Value;

    private async Task<(HttpStatusCode Status, string Page)> GetAsync(string pathAndQuery)
    {
        using var response = await _http.GetAsync(pathAndQuery.TrimStart('/'));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, string Page)> PostFormAsync(string path, params (string Name, string Value)[] fields)
    {
        using var response = await _http.PostAsync(path.TrimStart('/'), new FormUrlEncodedContent(fields.Select(f => KeyValuePair.Create(f.Name, f.Value))));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_confirmation_page_shows_what_the_click_confirms_and_a_link_for_a_replaced_request_says_so()
    {
        await _rig.Subscriptions.SubscribeAsync("hedy@example.org", Daily("diffusion <models>"), "hedy", CancellationToken.None);
        var link = LinkTo("hedy@example.org", "confirm");

        var (status, page) = await GetAsync(link);
        Assert.True(status == HttpStatusCode.OK, $"{link}: {status} {page}");
        Assert.Contains("a daily digest at hedy@example.org", page);
        Assert.Contains("<li>diffusion &lt;models&gt;</li>", page);

        // A stranger replaces the pending request.
        await _rig.Subscriptions.SubscribeAsync("hedy@example.org", new PreferencesRequest(["Verify your account at evil.example"], "instant", "UTC", 7, 10, 0.01, 1, false, [], [], []),
            "stranger", CancellationToken.None);

        (status, page) = await GetAsync(link);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("earlier request", page);
        Assert.DoesNotContain("evil.example", page);
        using var posted = await _http.PostAsync(link.TrimStart('/'), content: null);
        Assert.Equal(HttpStatusCode.BadRequest, posted.StatusCode);
        Assert.Equal(SubscriptionStatus.Pending, (await _rig.Store.FindByEmailAsync("hedy@example.org"))!.Status);
    }

    [Fact]
    public async Task A_preferences_form_with_fields_left_empty_keeps_them_and_a_field_that_is_not_a_number_is_refused()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("grace");
        await _rig.Store.UpdateAsync(subscriber.Id, s => s with { Hour = 18, InstantThreshold = 0.7 });
        var token = _rig.Tokens.Issue(TokenPurpose.Preferences, subscriber.Id, TimeSpan.FromDays(1));

        var (status, _) = await PostFormAsync("/preferences", ("token", token), ("interests", "graph neural networks"), ("cadence", "daily"), ("hour", ""),
            ("instant_threshold", ""), ("max_papers", "12"));
        Assert.Equal(HttpStatusCode.OK, status);
        var saved = (await _rig.Store.GetAsync(subscriber.Id))!;
        Assert.Equal((18, 0.7, 12), (saved.Hour, saved.InstantThreshold, saved.MaxPapers));
        Assert.Equal(["graph neural networks"], saved.Interests);

        (status, var page) = await PostFormAsync("/preferences", ("token", token), ("hour", "six"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("hour must be a whole number", page);
        (status, page) = await PostFormAsync("/preferences", ("token", token), ("instant_threshold", "0"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("instant_threshold must be between 0.01 and 1", page);
        (status, page) = await PostFormAsync("/preferences", ("token", token), ("max_papers", "0"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("max_papers must be at least 1", page);
        Assert.Equal((18, 0.7), ((await _rig.Store.GetAsync(subscriber.Id))!.Hour, (await _rig.Store.GetAsync(subscriber.Id))!.InstantThreshold));
    }

    [Fact]
    public async Task A_field_left_empty_keeps_what_is_stored_when_the_form_is_saved_not_what_it_was_when_read()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("hopper");
        var token = _rig.Tokens.Issue(TokenPurpose.Preferences, subscriber.Id, TimeSpan.FromDays(1));
        // Another change (a second tab, the API) lands between the page's read and its write.
        _rig.Redis.Before(call => call.Method is "Transaction" && call.Touches($"notify:subscriber:{subscriber.Id}"),
            () => _rig.Store.UpdateAsync(subscriber.Id, s => s with { Hour = 21 }));

        var (status, _) = await PostFormAsync("/preferences", ("token", token), ("interests", "compilers"), ("hour", ""));

        Assert.Equal(HttpStatusCode.OK, status);
        var saved = (await _rig.Store.GetAsync(subscriber.Id))!;
        Assert.Equal(21, saved.Hour);
        Assert.Equal(["compilers"], saved.Interests);
    }

    [Fact]
    public async Task With_redis_out_of_reach_a_page_asks_to_try_again_instead_of_failing_blank()
    {
        var subscriber = await _rig.ActiveSubscriberAsync("linus");
        var token = Uri.EscapeDataString(_rig.Tokens.Issue(TokenPurpose.Preferences, subscriber.Id, TimeSpan.FromDays(1)));
        _rig.Redis.Fail(_ => true);

        var (status, page) = await GetAsync($"/preferences?token={token}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("try again in a minute", page, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Exception", page);
    }
}
