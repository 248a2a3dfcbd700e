using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A digest the schedule sends (not one a SendDigestNow call asks for) is one trace: an operator
/// following a slow or failed digest finds composing it, rank's calls, the SMTP send and the ledger
/// under one root, not scattered over root traces of their own.
/// </summary>
public sealed class When_the_scheduler_sends_a_digest : IAsyncLifetime
{
    private NotifyRig _rig = null!;
    private ActivityListener _listener = null!;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public async Task InitializeAsync()
    {
        _rig = await NotifyRig.StartAsync();
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == _rig.Identity.ActivitySource.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public async Task DisposeAsync()
    {
        _listener.Dispose();
        await _rig.DisposeAsync();
    }

    [Fact]
    public async Task Composing_and_sending_it_are_one_trace_under_the_scheduled_digest()
    {
        var subscriber = await _rig.ActiveSubscriberAsync($"scheduled{Guid.NewGuid():N}");
        await _rig.Schedule.SetAsync(subscriber.Id, DateTimeOffset.UtcNow.AddMinutes(-1));
        var scheduler = new DigestScheduler(_rig.Schedule, _rig.Store, _rig.Digests, _rig.Subscriptions, Microsoft.Extensions.Options.Options.Create(_rig.Options),
            TimeProvider.System, NullLogger<DigestScheduler>.Instance, _rig.Identity);

        await scheduler.RunDueAsync(CancellationToken.None);

        Assert.Single(_rig.Smtp.Messages, e => e.Message.To.Mailboxes.Any(m => m.Address == subscriber.Email));
        // Other tests' rigs share the source's name: each span is told apart by this subscriber.
        var root = Assert.Single(_stopped, a => a.OperationName == "scheduled digest" && Equals(a.GetTagItem("notify.subscriber_id"), subscriber.Id));
        Assert.Equal(default, root.ParentSpanId);
        var compose = Assert.Single(_stopped, a => a.OperationName == "compose digest" && Equals(a.GetTagItem("notify.subscriber_id"), subscriber.Id));
        var send = Assert.Single(_stopped, a => a.OperationName == "smtp send" && (a.GetTagItem("email.message_id") as string ?? "").Contains(subscriber.Id, StringComparison.Ordinal));
        Assert.Equal((root.TraceId, root.TraceId), (compose.TraceId, send.TraceId));
    }
}
