using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;
using MimeKit;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

/// <summary>
/// A consumer's cancellation token is cancelled when the broker drops its connection. If that cut
/// an SMTP transaction off after its DATA, the server would keep the message while notify, seeing
/// a cancellation, released its claim and sent it again: the duplicate a broker restart produced in
/// the fault tests. The pool lets a transaction under way finish.
/// </summary>
public sealed class SmtpConnectionPoolSpecs
{
    [Fact]
    public async Task A_cancellation_after_the_message_is_handed_over_does_not_cut_the_transaction_off()
    {
        await using var server = HeldSmtpServer.Start();
        await using var pool = new SmtpConnectionPool(Options.Create(new SmtpOptions { Host = "127.0.0.1", Port = server.Port, TimeoutSeconds = 20 }), TimeProvider.System);
        using var consumer = new CancellationTokenSource();

        var sending = pool.SendAsync(Message(), consumer.Token);
        await server.DataReceived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await consumer.CancelAsync(); // the broker went away while the server holds its reply
        await Task.Delay(200);
        server.Answer.TrySetResult();

        var reply = await sending.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Contains("queued", reply, StringComparison.Ordinal);
        Assert.Equal(1, server.Messages);
    }

    [Fact]
    public async Task A_cancellation_before_the_transaction_starts_still_stops_the_send()
    {
        await using var server = HeldSmtpServer.Start();
        await using var pool = new SmtpConnectionPool(Options.Create(new SmtpOptions { Host = "127.0.0.1", Port = server.Port, TimeoutSeconds = 20, MaxConnections = 1 }), TimeProvider.System);

        // The only connection is busy: the second send waits for it and is given up.
        var first = pool.SendAsync(Message(), CancellationToken.None);
        await server.DataReceived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        using var gaveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.SendAsync(Message(), gaveUp.Token));

        server.Answer.TrySetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1, server.Messages);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_quit_after_taking_the_message_counts_as_sent()
    {
        // Without pooled connections each send ends with QUIT. The 250 is in hand by then: a QUIT
        // that times out must not turn the send into a failure, which the caller would send again.
        await using var server = HeldSmtpServer.Start(silentOnQuit: true);
        server.Answer.TrySetResult();
        await using var pool = new SmtpConnectionPool(Options.Create(new SmtpOptions { Host = "127.0.0.1", Port = server.Port, TimeoutSeconds = 2, MaxConnections = 0 }), TimeProvider.System);

        var reply = await pool.SendAsync(Message(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Contains("queued", reply, StringComparison.Ordinal);
        Assert.Equal(1, server.Messages);
        Assert.True(server.QuitReceived, "the client did not say QUIT: the test did not reach the case");
    }

    [Fact]
    public async Task A_send_whose_claim_was_lost_while_it_waited_for_a_connection_sends_nothing()
    {
        // One connection, busy with a slow first send: the second waits past its claim's lease,
        // and another sender took the email over meanwhile. It must not send as well.
        await using var server = HeldSmtpServer.Start();
        await using var pool = new SmtpConnectionPool(Options.Create(new SmtpOptions { Host = "127.0.0.1", Port = server.Port, TimeoutSeconds = 20, MaxConnections = 1 }), TimeProvider.System);
        var first = pool.SendAsync(Message(), CancellationToken.None);
        await server.DataReceived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var asked = 0;
        var second = pool.SendAsync(Message(), CancellationToken.None, beforeTransaction: () =>
        {
            Interlocked.Increment(ref asked);
            return Task.FromResult(false);
        });

        await Task.Delay(200);
        Assert.Equal(0, Volatile.Read(ref asked)); // asked only once a connection is ready
        server.Answer.TrySetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(20));
        await Assert.ThrowsAsync<SmtpSendClaimLostException>(() => second.WaitAsync(TimeSpan.FromSeconds(20)));

        Assert.Equal((1, 1), (Volatile.Read(ref asked), server.Messages));
        // The connection is kept for the next send, whose claim holds.
        Assert.Contains("queued", await pool.SendAsync(Message(), CancellationToken.None, beforeTransaction: () => Task.FromResult(true)).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(2, server.Messages);
    }

    [Fact]
    public async Task A_claim_that_cannot_be_checked_sends_nothing_and_is_not_taken_for_an_smtp_outage()
    {
        // Notify's Redis timing out as the claim is re-asserted: nothing is sent, and the SMTP
        // server, which is fine, must not be reported as failing (new alerts would then be kept
        // without a try) nor its connection thrown away.
        await using var server = HeldSmtpServer.Start();
        server.Answer.TrySetResult();
        var smtp = new SmtpOptions { Host = "127.0.0.1", Port = server.Port, TimeoutSeconds = 20, MaxConnections = 1 };
        await using var pool = new SmtpConnectionPool(Options.Create(smtp), TimeProvider.System);
        using var identity = new Pipeline.ServiceDefaults.ServiceIdentity("notify-test");
        var outage = new SmtpOutage(TimeProvider.System);
        var mail = new MailSender(Options.Create(smtp), pool, identity, outage);

        var failed = await Assert.ThrowsAsync<SmtpSendClaimCheckFailedException>(() => mail.SendAsync(Message(), "instant-alert", CancellationToken.None,
            beforeTransaction: () => throw new StackExchange.Redis.RedisTimeoutException("Timeout awaiting response", StackExchange.Redis.CommandStatus.Sent)));

        Assert.IsType<StackExchange.Redis.RedisTimeoutException>(failed.InnerException);
        Assert.Null(outage.Ongoing());
        Assert.Equal(0, server.Messages);
        await mail.SendAsync(Message(), "instant-alert", CancellationToken.None, beforeTransaction: () => Task.FromResult(true));
        Assert.Equal((1, 1), (server.Messages, server.Connections));
    }

    private static MimeMessage Message()
    {
        var message = new MimeMessage { Subject = "An alert", MessageId = $"alert.s.{Guid.NewGuid():N}@pipeline.localhost" };
        message.From.Add(MailboxAddress.Parse("papers@pipeline.localhost"));
        message.To.Add(MailboxAddress.Parse("reader@example.org"));
        message.Body = new TextPart("plain") { Text = "A paper." };
        return message;
    }

    /// <summary>
    /// Speaks just enough SMTP over loopback, and holds its reply to the end of DATA until
    /// <see cref="Answer"/> is set: the moment a real server takes to store a message.
    /// </summary>
    private sealed class HeldSmtpServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;
        private int _messages;

        private readonly bool _silentOnQuit;
        private volatile bool _quitReceived;
        private int _connections;

        private HeldSmtpServer(bool silentOnQuit)
        {
            _silentOnQuit = silentOnQuit;
            _listener.Start();
            _serving = Task.Run(ServeAsync);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public TaskCompletionSource DataReceived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Messages => Volatile.Read(ref _messages);

        public bool QuitReceived => _quitReceived;

        /// <summary>Connections accepted so far.</summary>
        public int Connections => Volatile.Read(ref _connections);

        /// <param name="silentOnQuit">Never answer QUIT (hold the connection until disposed).</param>
        public static HeldSmtpServer Start(bool silentOnQuit = false) => new(silentOnQuit);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _serving.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            _stop.Dispose();
        }

        private async Task ServeAsync()
        {
            var sessions = new List<Task>();
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    sessions.Add(Task.Run(() => SessionAsync(client)));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        private async Task SessionAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.ASCII);
                await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
                await writer.WriteLineAsync("220 held.test ESMTP");
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    var verb = line.Split(' ', 2)[0].ToUpperInvariant();
                    switch (verb)
                    {
                        case "EHLO" or "HELO":
                            await writer.WriteLineAsync("250 held.test");
                            break;
                        case "DATA":
                            await writer.WriteLineAsync("354 go on");
                            while (await reader.ReadLineAsync(_stop.Token) is { } data && data != ".")
                            {
                            }

                            DataReceived.TrySetResult();
                            await Answer.Task.WaitAsync(_stop.Token);
                            Interlocked.Increment(ref _messages);
                            await writer.WriteLineAsync("250 2.0.0 queued");
                            break;
                        case "QUIT":
                            _quitReceived = true;
                            if (_silentOnQuit)
                            {
                                await Task.Delay(Timeout.Infinite, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                                return;
                            }

                            await writer.WriteLineAsync("221 bye");
                            return;
                        default:
                            await writer.WriteLineAsync("250 ok");
                            break;
                    }
                }
            }
        }
    }
}
