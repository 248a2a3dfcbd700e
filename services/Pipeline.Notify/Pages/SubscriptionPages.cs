using System.Net;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Pages;

/// <summary>
/// The pages the links in emails open, on notify's HTTP port. Confirming is a GET (the link is the
/// confirmation); unsubscribing shows a button on GET, so a mail scanner that follows links
/// unsubscribes nobody, and acts on POST, which is also RFC 8058's one-click unsubscribe.
/// </summary>
public static class SubscriptionPages
{
    public static WebApplication MapSubscriptionPages(this WebApplication app)
    {
        app.MapGet("/confirm", async (string? token, Subscriptions subscriptions) =>
        {
            try
            {
                var subscriber = await subscriptions.ConfirmAsync(token);
                return Page(200, "Subscription confirmed", $"<p>Thank you. Papers about {WebUtility.HtmlEncode(string.Join(", ", subscriber.Interests))} will reach {WebUtility.HtmlEncode(subscriber.Email)}.</p>");
            }
            catch (SubscriptionException e)
            {
                return Page(400, "This link does not work", $"<p>{WebUtility.HtmlEncode(e.Message)}</p>");
            }
        });

        app.MapGet("/unsubscribe", (string? token) => Page(200, "Unsubscribe",
            $"<form method=\"post\" action=\"/unsubscribe?token={WebUtility.HtmlEncode(Uri.EscapeDataString(token ?? ""))}\">" +
            "<p>Stop all emails from this subscription?</p><button type=\"submit\">Unsubscribe</button></form>"));

        app.MapPost("/unsubscribe", async (string? token, Subscriptions subscriptions) =>
        {
            try
            {
                await subscriptions.UnsubscribeAsync(token);
                return Page(200, "Unsubscribed", "<p>You will get no more emails from this subscription.</p>");
            }
            catch (SubscriptionException e)
            {
                return Page(400, "This link does not work", $"<p>{WebUtility.HtmlEncode(e.Message)}</p>");
            }
        });
        return app;
    }

    private static IResult Page(int status, string title, string body) => Results.Content(
        $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title></head>" +
        $"<body style=\"font-family:Arial,sans-serif;max-width:600px;margin:40px auto\"><h1>{WebUtility.HtmlEncode(title)}</h1>{body}</body></html>",
        "text/html; charset=utf-8", statusCode: status);
}
