using System.Text;
using System.Text.Json;
using MimeKit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Templates;

namespace Pipeline.Notify.Tests;

/// <summary>strings.json of tests/HostileInputs (listed in its README), beside the test assembly.</summary>
internal static class HostileCorpus
{
    public static string String(string group, string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "HostileInputs", "strings.json")));
        return json.RootElement.GetProperty(group).GetProperty(name).GetString()!;
    }

    public static IEnumerable<object[]> Names(string group)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "HostileInputs", "strings.json")));
        return json.RootElement.GetProperty(group).EnumerateObject().Select(p => new object[] { p.Name }).ToArray();
    }
}

/// <summary>
/// The hostile strings of the corpus where they enter notify's emails: addresses, titles and
/// abstracts from papers (here straight from a message, as if ingest had let them through) and
/// interests. Emails are checked as the SMTP server would receive them: written out and read back.
/// </summary>
public class HostileInputSpecs
{
    private static readonly MailboxAddress From = new("Papers", "papers@example.org");
    private static readonly Uri Unsubscribe = new("http://127.0.0.1:5204/unsubscribe?token=u");

    private static PaperSummary Paper(string title, string abstractText) =>
        new("2410.17243", 1, title, abstractText, ["Ada Lovelace"], ["cs.LG"], null, "https://arxiv.org/abs/2410.17243", "api", 0);

    private static MimeMessage Alert(string title, string abstractText = "A plain abstract.") =>
        EmailTemplates.InstantAlert(From, "ada@example.org", Paper(title, abstractText), "matches your interest 'diffusion' (similarity 0.71)",
            Unsubscribe, DigestSamples.Preferences, "alert.s1.2410.17243@example.org");

    /// <summary>The message as bytes on the wire, and read back as a mail client would.</summary>
    private static (string Headers, MimeMessage Message) OnTheWire(MimeMessage message)
    {
        using var stream = new MemoryStream();
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos; // as SMTP carries it
        message.WriteTo(options, stream);
        var raw = Encoding.UTF8.GetString(stream.ToArray());
        return (raw[..raw.IndexOf("\r\n\r\n", StringComparison.Ordinal)], MimeMessage.Load(new MemoryStream(stream.ToArray())));
    }

    [Theory]
    [MemberData(nameof(Addresses))]
    public void Every_hostile_address_of_the_corpus_is_refused_with_a_reason(string name)
    {
        var (address, error) = EmailAddressRules.Check(HostileCorpus.String("addresses", name));

        Assert.Null(address);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    public static IEnumerable<object[]> Addresses() => HostileCorpus.Names("addresses");

    [Fact]
    public void A_title_with_line_breaks_and_headers_stays_text_in_the_subject_of_an_alert()
    {
        var (headers, received) = OnTheWire(Alert(HostileCorpus.String("titles", "header-injection")));

        Assert.Empty(received.Bcc);
        Assert.Null(received.Headers["X-Injected"]);
        Assert.Equal(["ada@example.org"], received.To.Mailboxes.Select(m => m.Address));
        Assert.DoesNotMatch("(?m)^(Bcc|X-Injected):", headers);
        Assert.StartsWith("New paper: Listening to honeybee hives", received.Subject);
        Assert.DoesNotContain("\n", received.Subject, StringComparison.Ordinal);
    }

    [Fact]
    public void A_top_paper_with_a_header_injection_stays_text_in_the_subject_of_a_digest()
    {
        var paper = DigestSamples.Paper(1, HostileCorpus.String("titles", "header-injection"));
        var digest = DigestComposer.Compose("sub-1", DigestSamples.Period, "daily", ["diffusion models"], 10, [paper], [], new HashSet<string>());
        var (headers, received) = OnTheWire(EmailTemplates.Digest(From, "ada@example.org", digest, DigestSamples.Unsubscribe, DigestSamples.Preferences, "d@example.org"));

        Assert.Empty(received.Bcc);
        Assert.DoesNotMatch("(?m)^(Bcc|X-Injected):", headers);
        Assert.Contains("Listening to honeybee hives", received.Subject);
    }

    [Fact]
    public void Markup_in_title_and_abstract_is_escaped_in_the_html_part_and_leaves_the_layout_whole()
    {
        var hostile = OnTheWire(Alert(HostileCorpus.String("titles", "script"), HostileCorpus.String("abstracts", "markup"))).Message;
        var benign = OnTheWire(Alert("A benign title", "A benign abstract.")).Message;
        var html = hostile.HtmlBody!;

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>listen", html);
        Assert.DoesNotContain("href=\"javascript:", html);
        Assert.Contains("&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;", html);
        // The stray closing tags in the abstract closed nothing: the page has the tags the layout has.
        foreach (var tag in new[] { "</div>", "</td>", "</table>", "<a " })
        {
            Assert.Equal(Count(benign.HtmlBody!, tag), Count(html, tag));
        }

        // The plain-text part carries the text as it is: markup there is only characters.
        Assert.Contains("<script>alert('title')</script>", hostile.TextBody);
    }

    [Fact]
    public async Task Text_the_caller_of_Subscribe_chose_never_reaches_the_confirmation_email()
    {
        // Anyone may call Subscribe with anyone's address: an "interest" must not become a line of
        // the operator's choosing in a stranger's inbox.
        await using var rig = await Delivery.NotifyRig.StartAsync();
        var bait = "Your account is locked, claim it at https://evil.example/claim";
        var script = HostileCorpus.String("interests", "script");

        await rig.Subscriptions.SubscribeAsync("ada@example.org", new PreferencesRequest([bait, script], "daily", "UTC", 7, 10, 0, 0, false, [], [], []),
            "client", CancellationToken.None);

        var email = (await rig.Smtp.WaitForMessageAsync(_ => true, TimeSpan.FromSeconds(10))).Message;
        foreach (var part in new[] { email.HtmlBody!, email.TextBody!, email.Subject })
        {
            Assert.DoesNotContain("evil.example", part, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("<script", part, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("honeybee swarming", part, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains("a daily digest of new papers on the 2 topics you gave", email.TextBody);
    }

    [Theory]
    [InlineData("nul")]
    [InlineData("bidi-override")]
    public void Odd_characters_a_title_might_still_carry_are_encoded_in_the_subject_never_raw(string name)
    {
        // Ingest refuses these; a title that reached notify another way must still not reach the wire raw.
        var (headers, received) = OnTheWire(Alert(HostileCorpus.String("unprintable-titles", name)));

        Assert.DoesNotContain('\0', headers);
        Assert.DoesNotContain('\u202e', headers);
        Assert.Contains("=?utf-8?", headers.Split("\r\n").Single(l => l.StartsWith("Subject:", StringComparison.Ordinal)));
        Assert.EndsWith("in the title", received.Subject);
    }

    [Theory]
    [InlineData("a.b.c")]
    [InlineData("....")]
    [InlineData("Q29uZmlybXxzMXww.\u0000")]
    [InlineData("Q29uZmlybXxzMXww.c2lnbmF0dXJl\r\nBcc: eve@example.org")]
    [InlineData("量子.纠错")]
    public void A_token_of_any_shape_is_refused_without_an_exception(string token)
    {
        var tokens = new SubscriptionTokens(new byte[32], TimeProvider.System);

        foreach (var purpose in Enum.GetValues<TokenPurpose>())
        {
            Assert.False(tokens.Verify(token, purpose).Valid);
        }

        Assert.False(tokens.Verify(new string('A', 100_000) + "." + new string('B', 100), TokenPurpose.Confirm).Valid);
    }

    private static int Count(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;
}
