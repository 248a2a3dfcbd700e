using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using System.Text.Unicode;
using Fluid;
using MimeKit;
using Pipeline.Contracts.Messages;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Templates;

/// <summary>
/// The emails notify sends, each as multipart/alternative (plain text and HTML), rendered from the
/// Liquid templates beside this file (Fluid). The HTML part is rendered with an HTML encoder, so
/// every value from a paper or a subscriber is escaped unless a template says <c>| raw</c> (only
/// the layout does, for the already-rendered body). Header values go through MimeKit, which
/// encodes them and refuses line breaks.
/// </summary>
public static class EmailTemplates
{
    private static readonly FluidParser Parser = new();
    private static readonly TemplateOptions Options = CreateOptions();
    private static readonly ConcurrentDictionary<string, IFluidTemplate> Cache = new();

    // Escapes markup and quotes but keeps letters of every script readable in the source.
    private static readonly HtmlEncoder Html = HtmlEncoder.Create(UnicodeRanges.All);

    /// <summary>
    /// The double opt-in email. It repeats no text the caller of the open Subscribe chose (their
    /// interests could be a phishing line sent to anyone's inbox through this server): only what
    /// kind of mail and how many topics; the page the link opens, and the preferences, show them.
    /// </summary>
    public static MimeMessage Confirmation(MailboxAddress from, string to, string cadence, int topics, Uri confirmUrl, string messageId)
    {
        var what = cadence switch
        {
            "instant" => "instant alerts",
            "weekly" => "a weekly digest",
            _ => "a daily digest",
        };
        var model = new ConfirmationView(what, topics == 1 ? "1 topic" : $"{topics} topics", confirmUrl.ToString());
        return Build(from, to, "Confirm your paper alerts subscription", Text("confirmation", model),
            Page("Confirm your subscription", Html_("confirmation", model), footer: null), messageId, unsubscribeUrl: null);
    }

    /// <summary>An instant alert: the paper's card, and links to preferences (an instant subscriber gets no digest to find them in) and unsubscribe.</summary>
    /// <summary>
    /// To an address that is already subscribed, when someone asks to subscribe it again: its
    /// interests and the links to change or end the subscription. The open Subscribe call tells the
    /// caller nothing of the subscription; its owner learns of the request here.
    /// </summary>
    public static MimeMessage AlreadySubscribed(MailboxAddress from, string to, IReadOnlyList<string> interests, Uri preferencesUrl, Uri unsubscribeUrl, string messageId)
    {
        var model = new AlreadySubscribedView(interests, preferencesUrl.ToString(), unsubscribeUrl.ToString());
        return Build(from, to, "You are already subscribed to new papers", Text("already-subscribed", model),
            Page("You are already subscribed", Html_("already-subscribed", model), Footer(unsubscribeUrl, preferencesUrl)), messageId, unsubscribeUrl);
    }

    public static MimeMessage InstantAlert(MailboxAddress from, string to, PaperSummary paper, string reason, Uri unsubscribeUrl, Uri preferencesUrl, string messageId)
    {
        var card = Card(new DigestPaper(paper.Id, paper.Title, paper.Authors, paper.Categories, paper.Url, paper.Abstract, reason, paper.PublishedAt), excerptLength: 400);
        var model = new AlertView(card, preferencesUrl.ToString(), unsubscribeUrl.ToString());
        return Build(from, to, "New paper: " + DigestComposer.Excerpt(TexMath.ToUnicode(paper.Title), 120), Text("alert", model),
            Page("New paper for you", Html_("alert", model), Footer(unsubscribeUrl, preferencesUrl)), messageId, unsubscribeUrl);
    }

    /// <summary>A digest: a card per paper, a short trending section, links to preferences and unsubscribe.</summary>
    public static MimeMessage Digest(MailboxAddress from, string to, Digest digest, Uri unsubscribeUrl, Uri preferencesUrl, string messageId)
    {
        var html = DigestHtml(digest, unsubscribeUrl, preferencesUrl);
        var model = View(digest, unsubscribeUrl, preferencesUrl);
        return Build(from, to, digest.Subject, Text("digest", model), html, messageId, unsubscribeUrl);
    }

    /// <summary>The HTML part of a digest alone (the browser test renders it).</summary>
    public static string DigestHtml(Digest digest, Uri unsubscribeUrl, Uri preferencesUrl) =>
        Page(digest.Subject, Html_("digest", View(digest, unsubscribeUrl, preferencesUrl)), Footer(unsubscribeUrl, preferencesUrl));

    /// <summary>The Message-Id of a digest: the same for a subscriber and period however often it is built.</summary>
    public static string DigestMessageId(string subscriberId, string periodId, string senderDomain) =>
        $"digest.{subscriberId}.{periodId}@{senderDomain}";

    /// <summary>At most three names, then "et al.".</summary>
    public static string ShortAuthors(IReadOnlyList<string> authors) => authors.Count switch
    {
        0 => "",
        <= 3 => string.Join(", ", authors),
        _ => string.Join(", ", authors.Take(3)) + " et al.",
    };

    /// <summary>At most <paramref name="max"/> characters, cut at a word boundary where there is one.</summary>
    public static string Excerpt(string text, int max) => DigestComposer.Excerpt(text, max);

    private static DigestView View(Digest digest, Uri unsubscribeUrl, Uri preferencesUrl)
    {
        var heading = digest.IsEmpty
            ? $"Nothing new on {Delivery.Digest.Topics(digest.Interests)} {digest.When}"
            : digest.Heading;
        var intro = digest.IsEmpty
            ? "No new paper matched your interests since your last digest. We will write again when there is one."
            : $"Picked for you {digest.When}, the most relevant first.";
        return new DigestView(heading, intro, digest.When, digest.Papers.Select(p => Card(p, 220)).ToArray(),
            digest.Trending.Select(p => Card(p, 160)).ToArray(), preferencesUrl.ToString(), unsubscribeUrl.ToString());
    }

    private static PaperCard Card(DigestPaper paper, int excerptLength) => new(
        paper.Id,
        DigestComposer.Excerpt(TexMath.ToUnicode(paper.Title), 300),
        ShortAuthors(paper.Authors),
        paper.Categories.Take(4).ToArray(),
        string.Join(", ", paper.Categories.Take(4)),
        DigestComposer.Excerpt(TexMath.ToUnicode(paper.Abstract), excerptLength),
        DigestComposer.Excerpt(paper.Reason, 200),
        DigestComposer.AbstractUrl(paper.Id, paper.Url),
        DigestComposer.PdfUrl(paper.Id, paper.Url));

    private static string Footer(Uri unsubscribeUrl, Uri? preferencesUrl) =>
        (preferencesUrl is null ? "" : $"<a href=\"{Html.Encode(preferencesUrl.ToString())}\" style=\"color:#6b7280;\">Change what you get</a> &middot; ") +
        $"<a href=\"{Html.Encode(unsubscribeUrl.ToString())}\" style=\"color:#6b7280;\">Unsubscribe</a>";

    private static string Page(string title, string body, string? footer) =>
        Render("layout.html", new LayoutView(title, body, footer ?? ""), Html);

    private static string Html_(string name, object model) => Render(name + ".html", model, Html);

    private static string Text(string name, object model) => Render(name + ".txt", model, NullEncoder.Default);

    private static string Render(string name, object model, TextEncoder encoder)
    {
        var template = Cache.GetOrAdd(name, Load);
        return template.Render(new TemplateContext(model, Options, allowModelMembers: true), encoder);
    }

    private static IFluidTemplate Load(string name)
    {
        var resource = $"Pipeline.Notify.Templates.{name}.liquid";
        using var stream = typeof(EmailTemplates).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The template {resource} is not embedded.");
        using var reader = new StreamReader(stream);
        return Parser.TryParse(reader.ReadToEnd(), out var template, out var error)
            ? template
            : throw new InvalidOperationException($"The template {name} does not parse: {error}");
    }

    private static TemplateOptions CreateOptions()
    {
        var options = new TemplateOptions();
        options.MemberAccessStrategy.Register<LayoutView>();
        options.MemberAccessStrategy.Register<ConfirmationView>();
        options.MemberAccessStrategy.Register<AlertView>();
        options.MemberAccessStrategy.Register<DigestView>();
        options.MemberAccessStrategy.Register<PaperCard>();
        return options;
    }

    private sealed record LayoutView(string Title, string Body, string Footer);

    private sealed record ConfirmationView(string What, string Topics, string ConfirmUrl);

    private sealed record AlreadySubscribedView(IReadOnlyList<string> Interests, string PreferencesUrl, string UnsubscribeUrl);

    private sealed record AlertView(PaperCard Paper, string PreferencesUrl, string UnsubscribeUrl);

    private sealed record DigestView(string Heading, string Intro, string When, IReadOnlyList<PaperCard> Papers, IReadOnlyList<PaperCard> Trending,
        string PreferencesUrl, string UnsubscribeUrl);

    private sealed record PaperCard(string Id, string Title, string Authors, IReadOnlyList<string> Categories, string CategoryList,
        string Excerpt, string Reason, string AbstractUrl, string PdfUrl);

    private static MimeMessage Build(MailboxAddress from, string to, string subject, string text, string html, string messageId, Uri? unsubscribeUrl)
    {
        var message = new MimeMessage { Subject = subject, MessageId = messageId };
        message.From.Add(from);
        message.To.Add(MailboxAddress.Parse(to));
        if (unsubscribeUrl is not null)
        {
            // RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs to this URL.
            message.Headers.Add("List-Unsubscribe", $"<{unsubscribeUrl}>");
            message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        }

        message.Body = new BodyBuilder { TextBody = text, HtmlBody = html }.ToMessageBody();
        return message;
    }
}
