using Microsoft.Extensions.Configuration;
using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests.Delivery;

/// <summary>
/// A deployment that started without Tokens:SigningKey signs with a key notify generated into its
/// Redis. Setting a key later must not break the unsubscribe links already sent (they never expire).
/// </summary>
public sealed class When_a_signing_key_is_set_after_running_on_the_generated_one : IAsyncLifetime
{
    private NotifyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await NotifyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static IConfiguration Settings(string? signingKey) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?> { ["Tokens:SigningKey"] = signingKey }).Build();

    [Fact]
    public void Links_signed_with_the_generated_key_still_work_and_new_ones_use_the_set_key()
    {
        var db = _rig.Connection.GetDatabase();
        var generated = new SubscriptionTokens(TokenKey.Resolve(Settings(null), db), TimeProvider.System);
        var sent = generated.Issue(TokenPurpose.Unsubscribe, "reader1", null);

        var set = Settings("a-signing-key-of-at-least-thirty-two-chars");
        var now = new SubscriptionTokens(TokenKey.Resolve(set, db), TimeProvider.System, TokenKey.Previous(set, db));

        Assert.Equal("reader1", now.Verify(sent, TokenPurpose.Unsubscribe).SubscriberId);
        Assert.False(generated.Verify(now.Issue(TokenPurpose.Unsubscribe, "reader1", null), TokenPurpose.Unsubscribe).Valid);

        // Deleting the generated key stops accepting its links.
        db.KeyDelete("notify:token-key");
        var later = new SubscriptionTokens(TokenKey.Resolve(set, db), TimeProvider.System, TokenKey.Previous(set, db));
        Assert.False(later.Verify(sent, TokenPurpose.Unsubscribe).Valid);
    }
}
