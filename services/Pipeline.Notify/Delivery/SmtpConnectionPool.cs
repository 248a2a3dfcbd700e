using System.Collections.Concurrent;
using System.Net.Sockets;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Pipeline.Notify.Delivery;

/// <summary>
/// A few connected (and authenticated) MailKit clients reused across emails: connecting, TLS and
/// AUTH cost more than the message itself, so reuse is what lets thousands of digests out quickly.
/// A client that failed in any way is closed, never reused; idle ones are closed after
/// <see cref="SmtpOptions.IdleSeconds"/>, before the server drops them.
/// </summary>
public sealed class SmtpConnectionPool : IAsyncDisposable
{
    private readonly SmtpOptions _options;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentBag<(SmtpClient Client, DateTimeOffset IdleSince)> _idle = [];

    public SmtpConnectionPool(IOptions<SmtpOptions> options, TimeProvider clock)
    {
        _options = options.Value;
        _clock = clock;
        _slots = new SemaphoreSlim(Math.Max(1, _options.MaxConnections > 0 ? _options.MaxConnections : 16));
    }

    /// <summary>
    /// Sends <paramref name="message"/> and returns the server's reply to the end of DATA (the 250 line).
    /// <paramref name="cancellationToken"/> stops the wait for a connection and the connecting, never a
    /// transaction under way: cut off after its DATA, a message may already be in the server's hands
    /// while the caller, seeing a cancellation, releases its claim and sends it again (a consumer's
    /// token is cancelled when the broker drops its connection). A transaction ends by itself, within
    /// the client's timeout (<c>Smtp:TimeoutSeconds</c>).
    /// </summary>
    public async Task<string> SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        SmtpClient? client = null;
        try
        {
            client = await RentAsync(cancellationToken);
            var handedOver = new HandedOver();
            string reply;
            try
            {
                reply = await client.SendAsync(message, CancellationToken.None, handedOver);
            }
            catch (Exception e) when (handedOver.Whole && e is not SmtpCommandException)
            {
                // Every byte of the message went out and no reply came: the server may have it.
                throw new SmtpOutcomeUnknownException(
                    $"The SMTP server took the whole message and did not answer it ({e.Message}); it may deliver it", e);
            }

            if (_options.MaxConnections > 0)
            {
                _idle.Add((client, _clock.GetUtcNow()));
            }
            else
            {
                await client.DisconnectAsync(quit: true, CancellationToken.None);
                client.Dispose();
            }

            client = null;
            return reply;
        }
        finally
        {
            client?.Dispose();
            _slots.Release();
        }
    }

    /// <summary>Whether MailKit wrote every byte of the message (its size is measured when progress is asked for).</summary>
    private sealed class HandedOver : MailKit.ITransferProgress
    {
        private long _written;
        private long _size = -1;

        public bool Whole => Interlocked.Read(ref _size) >= 0 && Interlocked.Read(ref _written) >= Interlocked.Read(ref _size);

        public void Report(long bytesTransferred, long totalSize)
        {
            Interlocked.Exchange(ref _size, totalSize);
            Interlocked.Exchange(ref _written, bytesTransferred);
        }

        public void Report(long bytesTransferred) => Interlocked.Exchange(ref _written, bytesTransferred);
    }

    private async Task<SmtpClient> RentAsync(CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        while (_idle.TryTake(out var pooled))
        {
            if (pooled.Client.IsConnected && now - pooled.IdleSince < TimeSpan.FromSeconds(_options.IdleSeconds))
            {
                return pooled.Client;
            }

            pooled.Client.Dispose();
        }

        var client = new SmtpClient { Timeout = _options.TimeoutSeconds * 1000 };
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            // Our own socket with Nagle off: SMTP is many small commands, and Nagle against the
            // server's delayed ACK costs tens of milliseconds per command (88 emails/s instead of 1,000+).
            await socket.ConnectAsync(_options.Host, _options.Port, cancellationToken);
            await client.ConnectAsync(socket, _options.Host, _options.Port, _options.Security, cancellationToken);
            if (!string.IsNullOrEmpty(_options.Username))
            {
                await client.AuthenticateAsync(_options.Username, _options.Password ?? "", cancellationToken);
            }

            return client;
        }
        catch
        {
            client.Dispose();
            socket.Dispose();
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out var pooled))
        {
            pooled.Client.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
