using MassTransit;
using Microsoft.Extensions.Configuration;

namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>
/// How long a publish may wait for the broker's confirmation: <c>Bus:PublishTimeoutSeconds</c>
/// (15 s). Publisher confirms make a publish wait until the broker holds the message; after a
/// broker restart RabbitMQ.Client 7.2.x can leave that wait without an end on a channel that
/// closed under it (its issue #1930), and a consumer waiting there holds its delivery, and one of
/// its endpoint's concurrency slots, for ever.
/// </summary>
public sealed record PublishDeadline(TimeSpan Timeout)
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(15);

    public TimeSpan Timeout { get; } = Timeout > TimeSpan.Zero
        ? Timeout
        : throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "A publish timeout must be positive.");

    public static PublishDeadline From(IConfiguration configuration) =>
        new(TimeSpan.FromSeconds(configuration.GetValue("Bus:PublishTimeoutSeconds", Default.TotalSeconds)));
}

/// <summary>The broker did not confirm a publish in time: the message may or may not have reached it.</summary>
public sealed class PublishNotConfirmedException(string messageType, TimeSpan waited)
    : TimeoutException($"The broker did not confirm the publish of {messageType} within {waited.TotalSeconds:0.#} s "
        + "(a broker that is down or blocked, or a channel that lost its confirmations); the message may or may not have reached it.")
{
    public string MessageType { get; } = messageType;
}

/// <summary>
/// Publishes that end: each waits at most its <see cref="PublishDeadline"/> for the broker's
/// confirmation, then throws <see cref="PublishNotConfirmedException"/>. In a consumer that is a
/// failure like any other: the bus retries the message (on a channel the bus has replaced by then)
/// and, were it still to fail, moves it to the error queue instead of holding it unacknowledged.
/// Every consumer downstream is idempotent, so a message the broker did take and that is published
/// again does no harm.
/// </summary>
public static class BoundedPublish
{
    public static Task PublishWithinAsync<T>(this IPublishEndpoint endpoint, T message, PublishDeadline deadline, CancellationToken cancellationToken = default)
        where T : class =>
        WithinAsync(token => endpoint.Publish(message, token), typeof(T), deadline, cancellationToken);

    public static Task PublishBatchWithinAsync<T>(this IPublishEndpoint endpoint, IEnumerable<T> messages, PublishDeadline deadline, CancellationToken cancellationToken = default)
        where T : class =>
        WithinAsync(token => endpoint.PublishBatch(messages, token), typeof(T), deadline, cancellationToken);

    private static async Task WithinAsync(Func<CancellationToken, Task> publish, Type messageType, PublishDeadline deadline, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(deadline.Timeout);
        try
        {
            // The token reaches the client's wait for the confirmation; WaitAsync ends the wait even
            // where a layer below does not look at the token.
            await publish(bounded.Token).WaitAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && bounded.IsCancellationRequested)
        {
            throw new PublishNotConfirmedException(messageType.Name, deadline.Timeout);
        }
    }
}
