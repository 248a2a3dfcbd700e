using Pipeline.Notify.Delivery;
using Pipeline.Notify.Storage;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A new address is stored as two keys: the subscriber and the index from the address to it. A
/// failure between writing the two must not lock the address out, and calls racing for one new
/// address must all end with its one subscriber.
/// </summary>
public sealed class When_a_new_address_subscribes : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() =>
        _rig = await NotifyRig.StartAsync(new NotifyOptions { SubscribePerAddressLimit = 100, SubscribePerClientLimit = 100 });

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static PreferencesRequest Daily(int hour = 7) =>
        new(["diffusion models"], "daily", "Europe/Berlin", hour, 10, 0, 1, false, [], [], []);

    private int ConfirmationsTo(string email) =>
        _rig.Smtp.Messages.Count(e => e.EnvelopeTo.Contains(email, StringComparer.OrdinalIgnoreCase));

    [Fact]
    public async Task A_redis_failure_while_the_subscriber_is_stored_leaves_the_address_free_for_a_retry()
    {
        const string email = "new@example.org";
        _rig.Redis.Fail(c => c.Touches("notify:subscriber:"), times: 1);

        await Assert.ThrowsAnyAsync<Exception>(() => _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None));
        Assert.Equal(1, _rig.Redis.Failed);
        var retried = await _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);

        Assert.Equal(SubscriptionStatus.Pending, retried.Status);
        Assert.Equal(retried.Id, (await _rig.Store.FindByEmailAsync(email))?.Id);
        Assert.Equal(1, ConfirmationsTo(email));
    }

    [Fact]
    public async Task An_address_whose_index_points_at_no_subscriber_can_subscribe()
    {
        const string email = "orphan@example.org";
        // Left by an older notify that died between writing the index and the subscriber.
        await _rig.Redis.Real.StringSetAsync($"notify:email:{email}", "0000dead0000dead0000dead0000dead");

        var subscriber = await _rig.Subscriptions.SubscribeAsync(email, Daily(), "client", CancellationToken.None);

        Assert.Equal(SubscriptionStatus.Pending, subscriber.Status);
        Assert.Equal(subscriber.Id, (await _rig.Store.FindByEmailAsync(email))?.Id);
        Assert.Equal(1, ConfirmationsTo(email));
    }

    [Fact]
    public async Task Concurrent_subscribes_for_a_new_address_make_one_subscriber_and_one_confirmation()
    {
        const string email = "race@example.org";

        var answers = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(i => Task.Run(() => _rig.Subscriptions.SubscribeAsync(email, Daily(hour: i), $"client{i}", CancellationToken.None))));

        Assert.Single(answers.Select(a => a.Id).Distinct());
        Assert.Equal(answers[0].Id, (await _rig.Store.FindByEmailAsync(email))?.Id);
        Assert.Equal(1, ConfirmationsTo(email));
    }
}
