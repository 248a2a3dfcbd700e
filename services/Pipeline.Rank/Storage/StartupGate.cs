namespace Pipeline.Rank.Storage;

/// <summary>
/// Holds rank's consumers until the startup load is done. The bus starts before the loaders (it is
/// registered first and does not wait to connect), so without it messages queued while rank was
/// down were consumed during the load: a new paper was matched against the instant profiles before
/// they were loaded (its alerts lost), and a paper or profile changed while the load held an older
/// copy could be overwritten in memory by that copy.
/// </summary>
/// <remarks>
/// Registered as a hosted service after <see cref="IndexLoader"/> and <c>FeedbackLoader</c>: the
/// host starts hosted services one after another, so it opens only once both have loaded (what
/// subscribers were sent loads after that, <see cref="SentHistoryLoader"/>: a <c>DigestSent</c>
/// consumed meanwhile adds to the same sets, which only grow). A
/// consumer waiting here holds its delivery unacknowledged; if rank stops first, the broker
/// delivers it again.
/// </remarks>
public sealed class StartupGate : IHostedService
{
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the load is done (at once after that).</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _open.Task.WaitAsync(cancellationToken);

    /// <summary>Opens the gate: every loader registered before it has finished.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _open.TrySetResult();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
