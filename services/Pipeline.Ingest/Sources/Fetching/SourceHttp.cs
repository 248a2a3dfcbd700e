using System.Net;
using Microsoft.Extensions.Logging;

namespace Pipeline.Ingest.Sources.Fetching;

/// <summary>A whole response body, read within the source's limits.</summary>
public sealed record FetchedBody(Uri Url, HttpStatusCode Status, byte[] Body, int Attempts)
{
    /// <summary>Validators for the next conditional request (If-None-Match, If-Modified-Since).</summary>
    public string? ETag { get; init; }

    public DateTimeOffset? LastModified { get; init; }
}

/// <summary>A request that got no usable answer: too large, too slow, cut off, or refused after the retries.</summary>
/// <param name="PartialBody">What arrived before the failure (a truncated body), to keep for inspection.</param>
public sealed class FetchException(string message, byte[]? partialBody = null, Exception? inner = null) : Exception(message, inner)
{
    public byte[]? PartialBody { get; } = partialBody;
}

/// <summary>
/// One request at a time to a source, and at least <paramref name="minInterval"/> from the end of
/// one to the start of the next (arXiv allows one request every three seconds, on one
/// connection), across polls and retries. Measuring from the end keeps the spacing even when a
/// request is slow to arrive.
/// </summary>
public sealed class PoliteGate(TimeSpan minInterval, TimeProvider clock)
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly TimeProvider _clock = clock;
    private DateTimeOffset _lastEnd = DateTimeOffset.MinValue;

    /// <summary>Waits for this source's turn; dispose the result when the request has ended.</summary>
    public async Task<IDisposable> WaitTurnAsync(CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            var wait = _lastEnd == DateTimeOffset.MinValue ? TimeSpan.Zero : _lastEnd + minInterval - _clock.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _clock, cancellationToken);
            }

            return new Turn(this);
        }
        catch
        {
            _turn.Release();
            throw;
        }
    }

    private sealed class Turn(PoliteGate gate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                gate._lastEnd = gate._clock.GetUtcNow();
                gate._turn.Release();
            }
        }
    }
}

/// <summary>
/// GET with the limits every source needs: a timeout per request, a maximum body size enforced
/// while reading (a larger body is abandoned, not buffered), polite spacing, and retries with
/// exponential backoff on 429, 502, 503, 504 and failed connections, honouring Retry-After.
/// Any other status is returned for the source to judge (arXiv's 400 carries an error feed).
/// </summary>
public sealed class SourceHttp(HttpClient http, HttpSourceOptions options, PoliteGate gate, TimeProvider clock, ILogger logger)
{
    private static readonly HashSet<HttpStatusCode> Transient =
        [HttpStatusCode.TooManyRequests, HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable, HttpStatusCode.GatewayTimeout];

    /// <param name="etag">From an earlier answer: the server answers 304 Not Modified when nothing changed.</param>
    public async Task<FetchedBody> GetAsync(Uri url, CancellationToken cancellationToken, string? etag = null, DateTimeOffset? lastModified = null)
    {
        var attempts = Math.Max(1, options.MaxAttempts);
        for (var attempt = 1; ; attempt++)
        {
            TimeSpan? retryAfter = null;
            string failure;
            using (await gate.WaitTurnAsync(cancellationToken))
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(options.Timeout);
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, url);
                    if (etag is not null && System.Net.Http.Headers.EntityTagHeaderValue.TryParse(etag, out var tag))
                    {
                        request.Headers.IfNoneMatch.Add(tag);
                    }

                    if (lastModified is not null)
                    {
                        request.Headers.IfModifiedSince = lastModified;
                    }

                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                    if (!Transient.Contains(response.StatusCode))
                    {
                        var body = await ReadBoundedAsync(response, timeout.Token);
                        return new FetchedBody(url, response.StatusCode, body, attempt)
                        {
                            ETag = response.Headers.ETag?.ToString(),
                            LastModified = response.Content.Headers.LastModified,
                        };
                    }

                    failure = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
                    retryAfter = RetryAfter(response);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    failure = $"no complete answer within {options.Timeout.TotalSeconds:0.#} s";
                }
                catch (HttpRequestException e)
                {
                    failure = e.Message;
                }
            }

            if (attempt >= attempts)
            {
                throw new FetchException($"{url.GetLeftPart(UriPartial.Path)}: {failure} (after {attempt} attempts)");
            }

            var backoff = options.RetryBaseDelay * Math.Pow(2, attempt - 1);
            if (retryAfter > options.MaxRetryDelay)
            {
                throw new FetchException($"{url.GetLeftPart(UriPartial.Path)}: {failure}, asked to retry after {retryAfter.Value.TotalSeconds:0} s, longer than the {options.MaxRetryDelay.TotalSeconds:0} s this source waits");
            }

            var delay = retryAfter is { } ra && ra > backoff ? ra : backoff;
            logger.LogInformation("{Url}: {Failure}; retrying in {Delay} (attempt {Attempt} of {Attempts})", url, failure, delay, attempt + 1, attempts);
            await Task.Delay(delay, clock, cancellationToken);
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - clock.GetUtcNow() is var d && d > TimeSpan.Zero ? d : TimeSpan.Zero,
        _ => null,
    };

    private async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var max = options.MaxResponseBytes;
        if (response.Content.Headers.ContentLength is { } declared && declared > max)
        {
            throw new FetchException($"the answer declares {declared} bytes, more than the {max} bytes this source reads");
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var body = new MemoryStream(response.Content.Headers.ContentLength is { } n ? (int)n : 64 * 1024);
        var buffer = new byte[81920];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (body.Length + read > max)
                {
                    throw new FetchException($"the answer is longer than the {max} bytes this source reads; abandoned");
                }

                body.Write(buffer, 0, read);
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The connection ended before the declared length: a truncated body.
            throw new FetchException($"the answer ended early after {body.Length} bytes: {e.Message}", body.ToArray(), e);
        }

        return body.ToArray();
    }
}
