using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Pages;

/// <summary>
/// The pages the links in emails open, on notify's HTTP port. Confirming and unsubscribing show a
/// button on GET and act on POST, so a mail scanner that follows every link (as corporate gateways
/// do) confirms and unsubscribes nobody; the unsubscribe POST is also RFC 8058's one-click
/// unsubscribe. Forms post to a path relative to the page, so they work behind a proxy that
/// serves notify under a prefix (<c>Notify__PublicBaseUrl</c>). The
/// preferences page is a form (GET) that posts back with the same signed token; no cookies, so a
/// forged cross-site POST has nothing to ride on without the token itself.
/// </summary>
public static class SubscriptionPages
{
    /// <summary>The largest preferences form taken (every field of a generous form fits many times over).</summary>
    public const int MaxFormBytes = 64 * 1024;

    public static WebApplication MapSubscriptionPages(this WebApplication app)
    {
        // Anything but a refusal (Redis out of reach or timing out, a store contended past its
        // retries) is a page that says to try again, never a blank 500 or a stack trace; the
        // change may or may not have been saved, and every action here can be repeated.
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Pipeline.Notify.Pages");
        var pages = app.MapGroup("").AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context);
            }
            catch (Exception e) when (e is not SubscriptionException && !context.HttpContext.RequestAborted.IsCancellationRequested)
            {
                logger.LogError(e, "The page {Path} failed", context.HttpContext.Request.Path.Value);
                return Page(503, "Please try again in a minute",
                    "<p>Something went wrong on our side and your request may not have been carried out. Open the link again in a minute.</p>");
            }
        });

        pages.MapGet("/confirm", async (string? token, Subscriptions subscriptions) =>
        {
            try
            {
                // What the click would confirm, so its owner sees it is their own request.
                var subscriber = await subscriptions.ForConfirmationAsync(token);
                return Page(200, "Confirm your subscription",
                    $"<form method=\"post\" action=\"confirm?token={WebUtility.HtmlEncode(Uri.EscapeDataString(token ?? ""))}\">" +
                    $"<p>Start receiving {WebUtility.HtmlEncode(Cadence(subscriber.Cadence))} at {WebUtility.HtmlEncode(subscriber.Email)} about:</p>" +
                    $"<ul>{string.Concat(Asked(subscriber).Select(line => $"<li>{WebUtility.HtmlEncode(line)}</li>"))}</ul>" +
                    "<button type=\"submit\">Confirm</button></form>");
            }
            catch (SubscriptionException e)
            {
                return Refused(e, "This link does not work");
            }
        });

        pages.MapPost("/confirm", async (string? token, Subscriptions subscriptions) =>
        {
            try
            {
                var subscriber = await subscriptions.ConfirmAsync(token);
                return Page(200, "Subscription confirmed", $"<p>Thank you. Papers about {WebUtility.HtmlEncode(string.Join(", ", subscriber.Interests))} will reach {WebUtility.HtmlEncode(subscriber.Email)}.</p>");
            }
            catch (SubscriptionException e)
            {
                return Refused(e, "This link does not work");
            }
        });

        pages.MapGet("/unsubscribe", (string? token, SubscriptionTokens tokens) =>
            ButtonPage(tokens, token, TokenPurpose.Unsubscribe, "unsubscribe", "Unsubscribe", "Stop all emails from this subscription?", "Unsubscribe"));

        pages.MapPost("/unsubscribe", async (string? token, Subscriptions subscriptions) =>
        {
            try
            {
                await subscriptions.UnsubscribeAsync(token);
                return Page(200, "Unsubscribed", "<p>You will get no more emails from this subscription.</p>");
            }
            catch (SubscriptionException e)
            {
                return Refused(e, "This link does not work");
            }
        });
        pages.MapGet("/preferences", async (string? token, Subscriptions subscriptions) =>
        {
            try
            {
                var subscriber = await subscriptions.ForPreferencesAsync(token);
                return Page(200, "Your paper digest", PreferencesForm(token!, subscriber, saved: false));
            }
            catch (SubscriptionException e)
            {
                return Refused(e, "This link does not work");
            }
        });

        pages.MapPost("/preferences", async (HttpRequest request, Subscriptions subscriptions) =>
        {
            // The form is read before its token can be checked, so what anyone may send is small:
            // the whole body at most MaxFormBytes (Kestrel's default would be 30 MB).
            if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
            {
                bodyLimit.MaxRequestBodySize = MaxFormBytes;
            }

            IFormCollection? form;
            try
            {
                form = request.HasFormContentType ? await request.ReadFormAsync() : null;
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return Page(413, "Your preferences were not saved", $"<p>The form is larger than {MaxFormBytes / 1024} KB; nothing was changed.</p>");
            }
            catch (Exception e) when (e is InvalidDataException or BadHttpRequestException)
            {
                return Page(400, "Your preferences were not saved", "<p>The form could not be read; nothing was changed.</p>");
            }

            var token = form?["token"].ToString() is { Length: > 0 } t ? t : request.Query["token"].ToString();
            try
            {
                // A number left empty (or missing) keeps what is stored at the write, as the form shows it.
                var updated = await subscriptions.UpdatePreferencesAsync(token, current => new PreferencesRequest(
                    (form?["interests"].ToString() ?? "").Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                    form?["cadence"].ToString() ?? "",
                    form?["timezone"].ToString(),
                    Number(form, "hour", current.Hour, min: 0),
                    Number(form, "max_papers", current.MaxPapers, min: 1),
                    Fraction(form, "instant_threshold", current.InstantThreshold),
                    Number(form, "weekday", current.Weekday, min: 1),
                    form?["note_when_empty"].ToString() is "on" or "true",
                    Lines(form, "seed_paper_ids"),
                    Lines(form, "authors"),
                    Lines(form, "categories")));
                return Page(200, "Preferences saved", PreferencesForm(token, updated, saved: true));
            }
            catch (SubscriptionException e)
            {
                return Refused(e, "Your preferences were not saved");
            }
        });
        return app;
    }

    /// <summary>
    /// A request refused with its reason: 503 when the change is saved but could not be passed on in
    /// time (open the link again), else 400 under <paramref name="title"/>.
    /// </summary>
    /// <summary>
    /// The page a link opens before anything is done: the token is checked first, so a broken link
    /// says so at once, and the button posts the same token to <paramref name="action"/> (relative
    /// to the page).
    /// </summary>
    private static IResult ButtonPage(SubscriptionTokens tokens, string? token, TokenPurpose purpose, string action, string title, string question, string button) =>
        tokens.Verify(token, purpose) is { Valid: false } check
            ? Page(400, "This link does not work", $"<p>{WebUtility.HtmlEncode(check.Error)}</p>")
            : Page(200, title,
                $"<form method=\"post\" action=\"{action}?token={WebUtility.HtmlEncode(Uri.EscapeDataString(token ?? ""))}\">" +
                $"<p>{WebUtility.HtmlEncode(question)}</p><button type=\"submit\">{WebUtility.HtmlEncode(button)}</button></form>");

    private static string Cadence(string cadence) => cadence switch
    {
        "instant" => "instant alerts",
        "weekly" => "a weekly digest",
        _ => "a daily digest",
    };

    /// <summary>Each thing the subscription asks for, as a line a person reads.</summary>
    private static IEnumerable<string> Asked(Subscriber subscriber) =>
        subscriber.Interests
            .Concat(subscriber.SeedPaperIds.Select(id => $"papers like arXiv {id}"))
            .Concat(subscriber.Authors.Select(author => $"papers by {author}"))
            .Concat(subscriber.Categories.Select(category => $"preferred category: {category}"));

    private static IResult Refused(SubscriptionException e, string title) => e.Unavailable
        ? Page(503, "Please try again in a minute", $"<p>{WebUtility.HtmlEncode(e.Message)}</p>")
        : Page(400, title, $"<p>{WebUtility.HtmlEncode(e.Message)}</p>");

    /// <summary>A textarea's lines; null when the form has no such field (a form from before it existed keeps what is stored).</summary>
    private static string[]? Lines(IFormCollection? form, string field) =>
        form is not null && form.TryGetValue(field, out var value)
            ? value.ToString().Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : null;

    /// <summary>
    /// A whole-number field: empty or missing keeps <paramref name="stored"/>; anything else must be
    /// a number of at least <paramref name="min"/> (0 would read as "the default" for some fields;
    /// the upper bounds are checked with the rest of the preferences).
    /// </summary>
    private static int Number(IFormCollection? form, string field, int stored, int min)
    {
        var text = form?[field].ToString().Trim();
        if (string.IsNullOrEmpty(text))
        {
            return stored;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw new SubscriptionException($"{field} must be a whole number, not '{text}'.");
        }

        return value >= min ? value : throw new SubscriptionException($"{field} must be at least {min}.");
    }

    /// <summary>A decimal field, as <see cref="Number"/>; 0 is refused, since the API reads it as "the default".</summary>
    private static double Fraction(IFormCollection? form, string field, double stored)
    {
        var text = form?[field].ToString().Trim();
        if (string.IsNullOrEmpty(text))
        {
            return stored;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw new SubscriptionException($"{field} must be a number between 0.01 and 1, not '{text}'.");
        }

        return value == 0 ? throw new SubscriptionException($"{field} must be between 0.01 and 1.") : value;
    }

    private static string PreferencesForm(string token, Subscriber s, bool saved)
    {
        static string E(string text) => WebUtility.HtmlEncode(text);
        static string Selected(bool on) => on ? " selected" : "";
        var html = new StringBuilder();
        if (saved)
        {
            html.Append("<p style=\"color:#047857\"><strong>Saved.</strong> Your next digest follows these preferences.</p>");
        }

        html.Append($"<p>For {E(s.Email)}.</p><form method=\"post\" action=\"preferences\">");
        html.Append($"<input type=\"hidden\" name=\"token\" value=\"{E(token)}\">");
        html.Append($"<p><label>Interests, one per line<br><textarea name=\"interests\" rows=\"5\" cols=\"50\">{E(string.Join("\n", s.Interests))}</textarea></label></p>");
        html.Append("<p><label>How often <select name=\"cadence\">");
        foreach (var cadence in SubscriptionRules.Cadences)
        {
            html.Append($"<option value=\"{cadence}\"{Selected(s.Cadence == cadence)}>{cadence}</option>");
        }

        html.Append("</select></label></p><p><label>Weekly on <select name=\"weekday\">");
        var days = new[] { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" };
        for (var d = 1; d <= 7; d++)
        {
            html.Append(CultureInfo.InvariantCulture, $"<option value=\"{d}\"{Selected(s.Weekday == d)}>{days[d - 1]}</option>");
        }

        html.Append(CultureInfo.InvariantCulture, $"</select></label></p><p><label>At hour (0-23) <input type=\"number\" name=\"hour\" min=\"0\" max=\"23\" value=\"{s.Hour}\"></label> ");
        html.Append($"<label>in time zone <input type=\"text\" name=\"timezone\" value=\"{E(s.TimeZone)}\"></label></p>");
        html.Append(CultureInfo.InvariantCulture, $"<p><label>Papers per digest <input type=\"number\" name=\"max_papers\" min=\"1\" max=\"{SubscriptionRules.MaxPapersLimit}\" value=\"{s.MaxPapers}\"></label></p>");
        html.Append(CultureInfo.InvariantCulture, $"<p><label>Instant alerts above similarity <input type=\"number\" name=\"instant_threshold\" min=\"0.01\" max=\"1\" step=\"0.01\" value=\"{s.InstantThreshold}\"></label></p>");
        html.Append($"<p><label>Authors you follow, one per line (\"Grace Hopper\" also finds \"G. M. Hopper\")<br><textarea name=\"authors\" rows=\"3\" cols=\"50\">{E(string.Join("\n", s.Authors))}</textarea></label></p>");
        html.Append($"<p><label>Categories you prefer, one per line (such as cs.LG)<br><textarea name=\"categories\" rows=\"2\" cols=\"50\">{E(string.Join("\n", s.Categories))}</textarea></label></p>");
        html.Append($"<p><label>Papers like these, arXiv ids one per line<br><textarea name=\"seed_paper_ids\" rows=\"2\" cols=\"50\">{E(string.Join("\n", s.SeedPaperIds))}</textarea></label></p>");
        html.Append($"<p><label><input type=\"checkbox\" name=\"note_when_empty\"{(s.NoteWhenEmpty ? " checked" : "")}> Send a short note when there is nothing new</label></p>");
        html.Append("<p><button type=\"submit\">Save</button></p></form>");
        return html.ToString();
    }

    private static IResult Page(int status, string title, string body) => Results.Content(
        $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title></head>" +
        $"<body style=\"font-family:Arial,sans-serif;max-width:600px;margin:40px auto\"><h1>{WebUtility.HtmlEncode(title)}</h1>{body}</body></html>",
        "text/html; charset=utf-8", statusCode: status);
}
