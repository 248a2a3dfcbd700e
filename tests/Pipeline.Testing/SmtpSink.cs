using System.Buffers;
using System.Net;
using MimeKit;
using SmtpServer;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SmtpServer.Storage;
using SmtpServerHost = SmtpServer.SmtpServer;

namespace Pipeline.Testing;

/// <summary>A message the <see cref="SmtpSink"/> accepted: parsed, with its SMTP envelope.</summary>
public sealed record ReceivedEmail(
    MimeMessage Message,
    string EnvelopeFrom,
    IReadOnlyList<string> EnvelopeTo,
    DateTimeOffset ReceivedAt,
    byte[] Raw)
{
    public string Subject => Message.Subject ?? "";

    public override string ToString() =>
        $"{ReceivedAt:HH:mm:ss.fff} from {EnvelopeFrom} to {string.Join(", ", EnvelopeTo)}: \"{Subject}\"";
}

/// <summary>An SMTP reply code the <see cref="SmtpSink"/> gave instead of accepting.</summary>
public sealed record RejectedEmail(string Stage, string EnvelopeFrom, string Recipient, int ReplyCode, DateTimeOffset At)
{
    public override string ToString() => $"{At:HH:mm:ss.fff} {Stage} {Recipient}: {ReplyCode}";
}

/// <summary>
/// An in-process SMTP server (the SmtpServer package) on 127.0.0.1 and a free port that parses every
/// message with MimeKit. No TLS, no authentication. It can be stopped (connections are cut and the
/// port refuses) and started again on the same port, and told to answer chosen recipients or all
/// messages with a 4xx or 5xx code.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly List<Rule> _recipientRules = [];
    private Func<MimeMessage, bool>? _messageRuleMatch;
    private SmtpResponse? _messageRuleResponse;
    private TaskCompletionSource? _paused;
    private TimeSpan _acceptanceDelay;
    private CancellationTokenSource? _stop;
    private Task? _running;

    public SmtpSink(int? port = null)
    {
        Port = port ?? FreePort.Next();
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public bool IsRunning => _running is { IsCompleted: false };

    /// <summary>Every accepted message, in arrival order; wait on it for custom conditions.</summary>
    public ReceivedLog<ReceivedEmail> Received { get; } = new();

    /// <summary>Every rejection the sink answered (for counting retries).</summary>
    public ReceivedLog<RejectedEmail> Rejected { get; } = new();

    /// <summary>A copy of the accepted messages so far.</summary>
    public IReadOnlyList<ReceivedEmail> Messages => Received.Snapshot();

    /// <summary>Creates a sink and starts it.</summary>
    public static async Task<SmtpSink> StartNewAsync(CancellationToken cancellationToken = default)
    {
        var sink = new SmtpSink();
        await sink.StartAsync(cancellationToken).ConfigureAwait(false);
        return sink;
    }

    /// <summary>Starts listening (again, on the same port) and returns when the port accepts connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            return;
        }

        var options = new SmtpServerOptionsBuilder()
            .ServerName("pipeline-smtp-sink")
            .Endpoint(e => e.Endpoint(new IPEndPoint(IPAddress.Loopback, Port)))
            .Build();
        var services = new SmtpServer.ComponentModel.ServiceProvider();
        var handler = new Handler(this);
        services.Add((IMessageStore)handler);
        services.Add((IMailboxFilter)handler);
        var server = new SmtpServerHost(options, services);
        _stop = new CancellationTokenSource();
        _running = Task.Run(() => server.StartAsync(_stop.Token), CancellationToken.None);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!FreePort.IsListening(Port))
        {
            if (_running.IsFaulted)
            {
                await _running.ConfigureAwait(false);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The SMTP sink did not listen on port {Port} within 10 s.");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>An outage: stops listening and cuts open sessions; clients get connection refused until <see cref="StartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_stop is null || _running is null)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _running.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (TimeoutException)
        {
        }

        _stop.Dispose();
        _stop = null;
        _running = null;
    }

    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> accepted messages match <paramref name="predicate"/>
    /// and returns all matching ones; throws a <see cref="TimeoutException"/> listing what arrived otherwise.
    /// </summary>
    public Task<IReadOnlyList<ReceivedEmail>> WaitForMessagesAsync(
        Func<MimeMessage, bool> predicate, int count, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Received.WaitForAsync(e => predicate(e.Message), count, timeout, e => e.ToString(), cancellationToken);

    /// <summary>Like <see cref="WaitForMessagesAsync"/>, with the envelope in the predicate.</summary>
    public Task<IReadOnlyList<ReceivedEmail>> WaitForEmailsAsync(
        Func<ReceivedEmail, bool> predicate, int count, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Received.WaitForAsync(predicate, count, timeout, e => e.ToString(), cancellationToken);

    /// <summary>Waits for the first accepted message matching <paramref name="predicate"/>.</summary>
    public async Task<ReceivedEmail> WaitForMessageAsync(
        Func<MimeMessage, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        (await WaitForMessagesAsync(predicate, 1, timeout, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>
    /// Waits <paramref name="quietPeriod"/>; throws an <see cref="InvalidOperationException"/> as soon as
    /// a message (matching <paramref name="predicate"/>, if given) arrives after this call started.
    /// </summary>
    public Task AssertNoMoreMessagesAsync(
        TimeSpan quietPeriod, Func<MimeMessage, bool>? predicate = null, CancellationToken cancellationToken = default) =>
        Received.AssertNoMoreAsync(e => predicate?.Invoke(e.Message) ?? true, quietPeriod, e => e.ToString(), cancellationToken);

    /// <summary>
    /// Answers RCPT TO for <paramref name="address"/> (case-insensitive) with <paramref name="replyCode"/>
    /// (4xx: try again later, 5xx: permanent failure) until <see cref="ClearRejections"/>.
    /// </summary>
    public void RejectRecipient(string address, int replyCode, string? text = null) =>
        RejectRecipients(a => string.Equals(a, address, StringComparison.OrdinalIgnoreCase), replyCode, text);

    /// <summary>Answers RCPT TO with <paramref name="replyCode"/> for every recipient address that matches.</summary>
    public void RejectRecipients(Func<string, bool> match, int replyCode, string? text = null)
    {
        ValidateFailureCode(replyCode);
        lock (_gate)
        {
            _recipientRules.Add(new Rule(match, new SmtpResponse((SmtpReplyCode)replyCode, text ?? DefaultText(replyCode))));
        }
    }

    /// <summary>Answers the end of DATA with <paramref name="replyCode"/> for messages that match (all if no predicate).</summary>
    public void RejectMessages(int replyCode, Func<MimeMessage, bool>? match = null, string? text = null)
    {
        ValidateFailureCode(replyCode);
        lock (_gate)
        {
            _messageRuleMatch = match ?? (_ => true);
            _messageRuleResponse = new SmtpResponse((SmtpReplyCode)replyCode, text ?? DefaultText(replyCode));
        }
    }

    /// <summary>
    /// A hang: connections are still accepted and greeted, but MAIL FROM and the end of DATA get no
    /// answer until <see cref="Resume"/> (or a stop), so clients run into their timeouts.
    /// </summary>
    public void Pause()
    {
        lock (_gate)
        {
            _paused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>
    /// A slow server (a content filter): each message is kept (it is in <see cref="Messages"/>) and
    /// its 250 comes only <paramref name="delay"/> after the end of its DATA, so a client with a
    /// shorter timeout gives up on a message the server has. <see cref="TimeSpan.Zero"/> ends it.
    /// </summary>
    public void DelayAcceptance(TimeSpan delay)
    {
        lock (_gate)
        {
            _acceptanceDelay = delay;
        }
    }

    /// <summary>Answers again after <see cref="Pause"/>; held commands go on.</summary>
    public void Resume()
    {
        TaskCompletionSource? paused;
        lock (_gate)
        {
            paused = _paused;
            _paused = null;
        }

        paused?.TrySetResult();
    }

    /// <summary>Accepts everything again.</summary>
    public void ClearRejections()
    {
        lock (_gate)
        {
            _recipientRules.Clear();
            _messageRuleMatch = null;
            _messageRuleResponse = null;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private static void ValidateFailureCode(int replyCode)
    {
        if (replyCode is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(replyCode), replyCode, "Use a 4xx (transient) or 5xx (permanent) SMTP reply code.");
        }
    }

    private static string DefaultText(int replyCode) =>
        replyCode < 500 ? "try again later (test sink)" : "rejected (test sink)";

    private static string Address(IMailbox? mailbox) =>
        mailbox is null || (mailbox.User.Length == 0 && mailbox.Host.Length == 0)
            ? ""
            : mailbox.Host.Length == 0 ? mailbox.User : $"{mailbox.User}@{mailbox.Host}";

    private sealed record Rule(Func<string, bool> Match, SmtpResponse Response);

    private sealed class Handler(SmtpSink sink) : IMessageStore, IMailboxFilter
    {
        public async Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken)
        {
            await WhilePausedAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }

        private Task WhilePausedAsync(CancellationToken cancellationToken)
        {
            TaskCompletionSource? paused;
            lock (sink._gate)
            {
                paused = sink._paused;
            }

            return paused?.Task.WaitAsync(cancellationToken) ?? Task.CompletedTask;
        }

        public Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken)
        {
            var address = Address(to);
            Rule? rule;
            lock (sink._gate)
            {
                rule = sink._recipientRules.LastOrDefault(r => r.Match(address));
            }

            if (rule is null)
            {
                return Task.FromResult(true);
            }

            sink.Rejected.Add(new RejectedEmail("RCPT", Address(from), address, (int)rule.Response.ReplyCode, DateTimeOffset.UtcNow));
            throw new SmtpResponseException(rule.Response);
        }

        public async Task<SmtpResponse> SaveAsync(
            ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            var raw = buffer.ToArray();
            await WhilePausedAsync(cancellationToken).ConfigureAwait(false);
            using var stream = new MemoryStream(raw, writable: false);
            var message = await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
            var from = Address(transaction.From);
            var to = transaction.To.Select(Address).ToList();

            Func<MimeMessage, bool>? match;
            SmtpResponse? response;
            lock (sink._gate)
            {
                match = sink._messageRuleMatch;
                response = sink._messageRuleResponse;
            }

            if (match is not null && response is not null && match(message))
            {
                foreach (var recipient in to)
                {
                    sink.Rejected.Add(new RejectedEmail("DATA", from, recipient, (int)response.ReplyCode, DateTimeOffset.UtcNow));
                }

                return response;
            }

            sink.Received.Add(new ReceivedEmail(message, from, to, DateTimeOffset.UtcNow, raw));
            TimeSpan delay;
            lock (sink._gate)
            {
                delay = sink._acceptanceDelay;
            }

            if (delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // The session ended (the client gave up): the message is kept all the same.
                }
            }

            return SmtpResponse.Ok;
        }
    }
}
