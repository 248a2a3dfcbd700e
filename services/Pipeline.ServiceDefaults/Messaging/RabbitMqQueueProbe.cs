using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Pipeline.ServiceDefaults.Messaging;

/// <summary>Asks the broker how many consumers a queue has.</summary>
public interface IQueueProbe
{
    Task<QueueConsumers> ConsumersAsync(string queue, CancellationToken cancellationToken);
}

/// <summary>
/// Asks RabbitMQ through a connection of its own (not the bus's, whose fault it must be able to
/// see): a passive declare answers with the queue's consumer count, or closes the channel with 404
/// when there is no such queue. The connection is opened when first needed and again after a failure.
/// </summary>
public sealed class RabbitMqQueueProbe(RabbitMqAddress address, string clientName) : IQueueProbe, IAsyncDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);
    private IConnection? _connection;

    public async Task<QueueConsumers> ConsumersAsync(string queue, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AskTimeout);
        try
        {
            var connection = await ConnectionAsync(timeout.Token).ConfigureAwait(false);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token).ConfigureAwait(false);
            var declared = await channel.QueueDeclarePassiveAsync(queue, timeout.Token).ConfigureAwait(false);
            return declared.ConsumerCount > 0 ? QueueConsumers.Consumed : QueueConsumers.NoConsumer;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return QueueConsumers.Missing;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Broker down, connection lost, a look that took too long: nothing is known.
            await DropConnectionAsync().ConfigureAwait(false);
            return QueueConsumers.Unknown;
        }
    }

    public ValueTask DisposeAsync() => new(DropConnectionAsync());

    private async Task<IConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
        {
            return open;
        }

        await DropConnectionAsync().ConfigureAwait(false);
        var factory = new ConnectionFactory
        {
            HostName = address.Host,
            Port = address.Port,
            VirtualHost = address.VirtualHost,
            UserName = address.Username,
            Password = address.Password,
            ClientProvidedName = clientName,
            // This connection is only asked questions; it is rebuilt when a question fails.
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            RequestedConnectionTimeout = AskTimeout,
        };
        _connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        return _connection;
    }

    private async Task DropConnectionAsync()
    {
        var connection = Interlocked.Exchange(ref _connection, null);
        if (connection is null)
        {
            return;
        }

        try
        {
            await connection.CloseAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Closing a connection that already failed: nothing left to do.
        }

        connection.Dispose();
    }
}
