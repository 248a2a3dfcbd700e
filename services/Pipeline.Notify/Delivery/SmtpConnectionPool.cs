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
    private readonly ConcurrentBag<(SmtpClient Client, WatchedStream Connection, DateTimeOffset IdleSince)> _idle = [];

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
    /// <summary>Why the password must not be sent over this connection, or null when it may.</summary>
    public static string? RefuseLogin(SmtpOptions options, bool connectionIsSecure) =>
        connectionIsSecure || options.PlaintextLoginAllowed
            ? null
            : $"{options.Host}:{options.Port} offered no TLS (Smtp__Security={options.Security}), so the password was not sent; " +
              "use Smtp__Security=StartTls or SslOnConnect with a server that offers it, or set Smtp__AllowPlaintextLogin=true.";

    /// <param name="beforeTransaction">
    /// Asked once a connection is ready, right before the transaction: false (a delivery's claim
    /// no longer this sender's, after a wait for a connection longer than its lease) sends nothing
    /// and throws <see cref="SmtpSendClaimLostException"/>; the connection is kept for the next send.
    /// </param>
    public async Task<string> SendAsync(MimeMessage message, CancellationToken cancellationToken, Func<Task<bool>>? beforeTransaction = null)
    {
        await _slots.WaitAsync(cancellationToken);
        SmtpClient? client = null;
        try
        {
            (client, var connection) = await RentAsync(cancellationToken);
            if (beforeTransaction is not null)
            {
                bool mayGoOn;
                Exception? failed = null;
                try
                {
                    mayGoOn = await beforeTransaction();
                }
                catch (Exception e)
                {
                    // Not the SMTP server's failure (the claim's store, out of reach): the connection is
                    // sound, and the caller must not take this for an SMTP outage.
                    (mayGoOn, failed) = (false, e);
                }

                if (!mayGoOn)
                {
                    if (_options.MaxConnections > 0)
                    {
                        _idle.Add((client, connection, _clock.GetUtcNow()));
                    }
                    else
                    {
                        await QuitAsync(client);
                    }

                    client = null;
                    throw failed is null ? new SmtpSendClaimLostException() : new SmtpSendClaimCheckFailedException(failed);
                }
            }

            var handedOver = new HandedOver();
            string reply;
            try
            {
                reply = await client.SendAsync(message, CancellationToken.None, handedOver);
            }
            catch (Exception e) when (handedOver.Whole && connection.AwaitingReply && e is not (SmtpCommandException or MailKit.Security.AuthenticationException or MailKit.ServiceNotAuthenticatedException))
            {
                // Every byte of the message and its end were written, and the wait for the reply
                // failed: the server may have it. (A failure while still writing is not this: a
                // server that did not get the end of the data discards it.)
                throw new SmtpOutcomeUnknownException(
                    $"The SMTP server took the whole message and did not answer it ({e.Message}); it may deliver it", e);
            }

            if (_options.MaxConnections > 0)
            {
                _idle.Add((client, connection, _clock.GetUtcNow()));
            }
            else
            {
                await QuitAsync(client);
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

    /// <summary>
    /// Says QUIT and closes the connection once the server has answered the message: whatever goes
    /// wrong now (no answer to QUIT, a reset) changes nothing for the email, which the server has,
    /// and must not reach the caller as a failed send, which it would send again.
    /// </summary>
    private static async Task QuitAsync(SmtpClient client)
    {
        try
        {
            await client.DisconnectAsync(quit: true, CancellationToken.None);
        }
        catch (Exception)
        {
            // The 250 is in hand; the connection is closed below either way.
        }
        finally
        {
            client.Dispose();
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

    private async Task<(SmtpClient Client, WatchedStream Connection)> RentAsync(CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        while (_idle.TryTake(out var pooled))
        {
            if (pooled.Client.IsConnected && now - pooled.IdleSince < TimeSpan.FromSeconds(_options.IdleSeconds))
            {
                return (pooled.Client, pooled.Connection);
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
            var connection = new WatchedStream(new NetworkStream(socket, ownsSocket: true));
            await client.ConnectAsync(connection, _options.Host, _options.Port, _options.Security, cancellationToken);
            if (!string.IsNullOrEmpty(_options.Username))
            {
                // Auto and StartTlsWhenAvailable go on in clear when the server offers no STARTTLS
                // (or an attacker strips it): the password is not sent then (SmtpOptions.Problem).
                if (RefuseLogin(_options, client.IsSecure) is { } refusal)
                {
                    throw new MailKit.Security.AuthenticationException(refusal);
                }

                await client.AuthenticateAsync(_options.Username, _options.Password ?? "", cancellationToken);
            }

            return (client, connection);
        }
        catch
        {
            client.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The connection under a client, watched for one thing: whether the last operation on it is a
    /// read begun after every write had completed, that is, the client waiting for a reply to what
    /// it sent. MailKit reports a message's bytes as they enter its buffer, before the end of the
    /// data is written; this tells a failure while waiting for the server's answer (the server may
    /// have the message) from one while still writing (it cannot). It also keeps the client's
    /// timeout (<c>Smtp:TimeoutSeconds</c>), which MailKit sets on the stream: on reads and writes,
    /// asynchronous ones included, as MailKit's own socket stream does.
    /// </summary>
    private sealed class WatchedStream(Stream inner) : Stream
    {
        private int _awaitingReply;
        private int _readTimeout = Timeout.Infinite;
        private int _writeTimeout = Timeout.Infinite;

        public bool AwaitingReply => Volatile.Read(ref _awaitingReply) == 1;

        public override bool CanTimeout => true;

        public override int ReadTimeout
        {
            get => _readTimeout;
            set
            {
                _readTimeout = value;
                inner.ReadTimeout = value;
            }
        }

        public override int WriteTimeout
        {
            get => _writeTimeout;
            set
            {
                _writeTimeout = value;
                inner.WriteTimeout = value;
            }
        }

        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Volatile.Write(ref _awaitingReply, 1);
            return inner.Read(buffer, offset, count);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Volatile.Write(ref _awaitingReply, 1);
            using var timed = Timed(_readTimeout, cancellationToken);
            try
            {
                return await inner.ReadAsync(buffer, timed?.Token ?? cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The SMTP server did not answer within {_readTimeout} ms.");
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Volatile.Write(ref _awaitingReply, 0);
            inner.Write(buffer, offset, count);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Volatile.Write(ref _awaitingReply, 0);
            using var timed = Timed(_writeTimeout, cancellationToken);
            try
            {
                await inner.WriteAsync(buffer, timed?.Token ?? cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The SMTP server took nothing for {_writeTimeout} ms.");
            }
        }

        /// <summary>A token that ends after <paramref name="milliseconds"/> or with <paramref name="cancellationToken"/>; null for no timeout.</summary>
        private static CancellationTokenSource? Timed(int milliseconds, CancellationToken cancellationToken)
        {
            if (milliseconds is Timeout.Infinite or <= 0)
            {
                return null;
            }

            var timed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timed.CancelAfter(milliseconds);
            return timed;
        }

        public override void Flush()
        {
            Volatile.Write(ref _awaitingReply, 0);
            inner.Flush();
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Volatile.Write(ref _awaitingReply, 0);
            return inner.FlushAsync(cancellationToken);
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
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
