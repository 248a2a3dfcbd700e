using System.Net;
using System.Text;
using MimeKit;
using Pipeline.Contracts.Messages;

namespace Pipeline.Notify.Templates;

/// <summary>
/// The emails notify sends, each as multipart/alternative (plain text and HTML). Everything that
/// comes from a paper or a subscriber is HTML-encoded in the HTML part; header values go through
/// MimeKit, which encodes them and refuses line breaks.
/// </summary>
public static class EmailTemplates
{
    public static MimeMessage Confirmation(MailboxAddress from, string to, IReadOnlyList<string> interests, Uri confirmUrl, string messageId)
    {
        var text = new StringBuilder()
            .AppendLine("Please confirm your subscription to new papers about:")
            .AppendLine()
            .AppendJoin(Environment.NewLine, interests.Select(i => "  - " + i)).AppendLine()
            .AppendLine()
            .AppendLine("Confirm: " + confirmUrl)
            .AppendLine()
            .AppendLine("If you did not ask for this, ignore this email: nothing will be sent to you.")
            .ToString();
        var html = Page(
            "Confirm your subscription",
            $"<p>Please confirm your subscription to new papers about:</p><ul>{string.Concat(interests.Select(i => $"<li>{E(i)}</li>"))}</ul>" +
            $"<p><a href=\"{E(confirmUrl.ToString())}\" style=\"display:inline-block;padding:10px 16px;background:#1a56db;color:#fff;text-decoration:none;border-radius:4px\">Confirm subscription</a></p>" +
            "<p style=\"color:#666\">If you did not ask for this, ignore this email: nothing will be sent to you.</p>");
        return Build(from, to, "Confirm your paper alerts subscription", text, html, messageId, unsubscribeUrl: null);
    }

    public static MimeMessage InstantAlert(MailboxAddress from, string to, PaperSummary paper, string reason, Uri unsubscribeUrl, string messageId)
    {
        var authors = ShortAuthors(paper.Authors);
        var text = new StringBuilder()
            .AppendLine(paper.Title)
            .AppendLine(authors)
            .AppendLine(paper.Url)
            .AppendLine()
            .AppendLine("Why: " + reason)
            .AppendLine()
            .AppendLine(Excerpt(paper.Abstract, 400))
            .AppendLine()
            .AppendLine("Unsubscribe: " + unsubscribeUrl)
            .ToString();
        var html = Page(
            "New paper for you",
            $"<h2 style=\"font-size:18px;margin:0 0 4px\"><a href=\"{E(paper.Url)}\">{E(paper.Title)}</a></h2>" +
            $"<p style=\"margin:0 0 8px;color:#444\">{E(authors)}</p>" +
            $"<p style=\"margin:0 0 8px\"><strong>Why:</strong> {E(reason)}</p>" +
            $"<p style=\"margin:0 0 16px;color:#333\">{E(Excerpt(paper.Abstract, 400))}</p>" +
            $"<p style=\"font-size:12px;color:#666\"><a href=\"{E(unsubscribeUrl.ToString())}\">Unsubscribe</a></p>");
        return Build(from, to, "New paper: " + Excerpt(paper.Title, 120), text, html, messageId, unsubscribeUrl);
    }

    /// <summary>At most three names, then "et al.".</summary>
    public static string ShortAuthors(IReadOnlyList<string> authors) => authors.Count switch
    {
        0 => "",
        <= 3 => string.Join(", ", authors),
        _ => string.Join(", ", authors.Take(3)) + " et al.",
    };

    /// <summary>At most <paramref name="max"/> characters, cut at a word boundary where there is one.</summary>
    public static string Excerpt(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var cut = text.LastIndexOf(' ', max - 1);
        return text[..(cut > 0 ? cut : max)].TrimEnd() + "…";
    }

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

    private static string Page(string title, string body) =>
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">" +
        $"<title>{E(title)}</title></head><body style=\"font-family:Arial,sans-serif;max-width:600px;margin:0 auto;padding:16px\">{body}</body></html>";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
