using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

public class SubscriptionTokensSpecs
{
    private static readonly byte[] Key = "0123456789abcdef0123456789abcdef"u8.ToArray();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_token_names_the_subscriber_it_was_issued_for()
    {
        var tokens = new SubscriptionTokens(Key, _clock);
        var check = tokens.Verify(tokens.Issue(TokenPurpose.Confirm, "sub-1", TimeSpan.FromDays(7)), TokenPurpose.Confirm);
        Assert.True(check.Valid);
        Assert.Equal("sub-1", check.SubscriberId);
    }

    [Fact]
    public void After_a_key_rotation_links_signed_with_the_previous_key_still_work_and_new_ones_use_the_new_key()
    {
        // Unsubscribe links never expire: rotating the key must not break those in mail already sent.
        var rotated = "fedcba9876543210fedcba9876543210"u8.ToArray();
        var before = new SubscriptionTokens(Key, _clock);
        var sent = before.Issue(TokenPurpose.Unsubscribe, "sub-1", null);

        var after = new SubscriptionTokens(rotated, _clock, [Key]);
        var withoutPrevious = new SubscriptionTokens(rotated, _clock);

        Assert.Equal("sub-1", after.Verify(sent, TokenPurpose.Unsubscribe).SubscriberId);
        Assert.False(withoutPrevious.Verify(sent, TokenPurpose.Unsubscribe).Valid);
        var issued = after.Issue(TokenPurpose.Unsubscribe, "sub-1", null);
        Assert.True(withoutPrevious.Verify(issued, TokenPurpose.Unsubscribe).Valid);
        Assert.False(before.Verify(issued, TokenPurpose.Unsubscribe).Valid);
    }

    [Fact]
    public void A_previous_key_shorter_than_32_characters_stops_the_start()
    {
        var configuration = Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(
            new Microsoft.Extensions.Configuration.ConfigurationBuilder(),
            new Dictionary<string, string?> { ["Tokens:PreviousSigningKeys:0"] = "too-short" }).Build();

        var e = Assert.Throws<InvalidOperationException>(() => (object)TokenKey.Previous(configuration));
        Assert.Contains("Tokens:PreviousSigningKeys:0", e.Message);
    }

    [Fact]
    public void A_token_gives_back_the_version_it_was_signed_with_and_a_changed_version_breaks_the_signature()
    {
        var tokens = new SubscriptionTokens(Key, _clock);
        var token = tokens.Issue(TokenPurpose.Confirm, "sub-1", TimeSpan.FromDays(7), version: "n1");
        Assert.Equal(("sub-1", "n1"), (tokens.Verify(token, TokenPurpose.Confirm).SubscriberId, tokens.Verify(token, TokenPurpose.Confirm).Version));
        Assert.Null(tokens.Verify(tokens.Issue(TokenPurpose.Confirm, "sub-1", TimeSpan.FromDays(7)), TokenPurpose.Confirm).Version);

        var other = tokens.Issue(TokenPurpose.Confirm, "sub-1", TimeSpan.FromDays(7), version: "n2");
        Assert.False(tokens.Verify(other.Split('.')[0] + "." + token.Split('.')[1], TokenPurpose.Confirm).Valid);
        Assert.Throws<ArgumentException>(() => tokens.Issue(TokenPurpose.Confirm, "sub-1", null, version: "a|b"));
    }

    [Fact]
    public void A_token_for_one_purpose_does_not_work_for_another()
    {
        var tokens = new SubscriptionTokens(Key, _clock);
        Assert.False(tokens.Verify(tokens.Issue(TokenPurpose.Confirm, "sub-1", null), TokenPurpose.Unsubscribe).Valid);
    }

    [Fact]
    public void An_expired_token_is_refused_as_expired()
    {
        var tokens = new SubscriptionTokens(Key, _clock);
        var token = tokens.Issue(TokenPurpose.Confirm, "sub-1", TimeSpan.FromDays(7));
        _clock.Now = _clock.Now.AddDays(8);
        var check = tokens.Verify(token, TokenPurpose.Confirm);
        Assert.False(check.Valid);
        Assert.True(check.Expired);
    }

    [Fact]
    public void A_token_with_a_changed_subscriber_is_refused()
    {
        var tokens = new SubscriptionTokens(Key, _clock);
        var token = tokens.Issue(TokenPurpose.Unsubscribe, "sub-1", null);
        var forged = new SubscriptionTokens(Key, _clock).Issue(TokenPurpose.Unsubscribe, "sub-2", null);
        var spliced = forged.Split('.')[0] + "." + token.Split('.')[1];
        Assert.False(tokens.Verify(spliced, TokenPurpose.Unsubscribe).Valid);
    }

    [Fact]
    public void A_token_signed_with_another_key_is_refused()
    {
        var other = new SubscriptionTokens("another key, also 32 characters!"u8.ToArray(), _clock);
        Assert.False(new SubscriptionTokens(Key, _clock).Verify(other.Issue(TokenPurpose.Unsubscribe, "sub-1", null), TokenPurpose.Unsubscribe).Valid);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("a.b")]
    [InlineData("!!!.???")]
    public void Malformed_tokens_are_refused_without_an_exception(string? token)
    {
        Assert.False(new SubscriptionTokens(Key, _clock).Verify(token, TokenPurpose.Confirm).Valid);
    }
}
