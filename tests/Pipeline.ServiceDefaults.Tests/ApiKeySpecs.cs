using Microsoft.Extensions.Configuration;

namespace Pipeline.ServiceDefaults.Tests;

/// <summary>A service refuses to start with a guessable API key, and says which entry without showing it.</summary>
public sealed class ApiKeySpecs
{
    private static IConfiguration Keys(params string[] keys) => new ConfigurationBuilder()
        .AddInMemoryCollection(keys.Select((k, i) => new KeyValuePair<string, string?>($"Security:ApiKeys:{i}", k)))
        .Build();

    [Fact]
    public void A_short_key_stops_the_start_naming_its_position_not_its_value()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ApiKeyValidator.CheckConfigured(Keys("a-long-enough-operator-key", "guessme")));

        Assert.Contains("Security:ApiKeys:1", e.Message);
        Assert.Contains("at least 16", e.Message);
        Assert.DoesNotContain("guessme", e.Message);
    }

    [Fact]
    public void Long_keys_and_no_keys_at_all_start()
    {
        ApiKeyValidator.CheckConfigured(Keys("0123456789abcdef", "a-long-enough-operator-key"));
        ApiKeyValidator.CheckConfigured(Keys());
    }
}
