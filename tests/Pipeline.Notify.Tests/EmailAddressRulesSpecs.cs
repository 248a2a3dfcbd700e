using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

public class EmailAddressRulesSpecs
{
    [Theory]
    [InlineData("ada@example.org", "ada@example.org")]
    [InlineData("Ada.Lovelace+papers@Example.ORG", "Ada.Lovelace+papers@example.org")]
    [InlineData("  ada@example.org ", "ada@example.org")]
    public void A_plain_address_is_accepted_with_its_domain_lower_cased(string input, string expected)
    {
        Assert.Equal(expected, EmailAddressRules.Check(input).Address);
    }

    [Theory]
    [InlineData("ada@example.org\r\nBcc: victim@example.org")]
    [InlineData("ada@example.org\nBcc: victim@example.org")]
    [InlineData("Ada <ada@example.org>")]
    [InlineData("ada@example.org, eve@example.org")]
    [InlineData("ada")]
    [InlineData("ada@")]
    [InlineData("@example.org")]
    [InlineData("ada@localhost")]
    [InlineData("ada@@example.org")]
    [InlineData("ada@exa mple.org")]
    [InlineData("")]
    [InlineData(null)]
    public void Anything_but_one_bare_address_is_refused(string? input)
    {
        var (address, error) = EmailAddressRules.Check(input);
        Assert.Null(address);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void An_overlong_address_is_refused()
    {
        Assert.Null(EmailAddressRules.Check(new string('a', 250) + "@example.org").Address);
        Assert.Null(EmailAddressRules.Check(new string('a', 65) + "@example.org").Address);
    }
}

public class SubscriptionRulesSpecs
{
    private static PreferencesRequest Request(string cadence = "instant", string? zone = "Europe/Berlin", int hour = 8, int maxPapers = 0, double threshold = 0, params string[] interests) =>
        new(interests.Length == 0 ? ["diffusion models"] : interests, cadence, zone, hour, maxPapers, threshold);

    [Fact]
    public void Defaults_fill_what_was_left_out()
    {
        var (p, error) = SubscriptionRules.Validate(Request(zone: null), defaultThreshold: 0.5);
        Assert.Null(error);
        Assert.Equal(("UTC", 10, 0.5), (p!.TimeZone, p.MaxPapers, p.InstantThreshold));
    }

    [Theory]
    [InlineData("hourly", "Europe/Berlin", 8, 0, 0.0, "cadence")]
    [InlineData("daily", "Mars/Olympus", 8, 0, 0.0, "time zone")]
    [InlineData("daily", "UTC", 24, 0, 0.0, "hour")]
    [InlineData("daily", "UTC", 8, 51, 0.0, "max_papers")]
    [InlineData("instant", "UTC", 8, 0, 1.5, "instant_threshold")]
    public void Out_of_range_preferences_are_refused_with_the_field_named(string cadence, string zone, int hour, int maxPapers, double threshold, string field)
    {
        var (p, error) = SubscriptionRules.Validate(Request(cadence, zone, hour, maxPapers, threshold), 0.5);
        Assert.Null(p);
        Assert.Contains(field, error);
    }

    [Fact]
    public void At_least_one_interest_is_needed()
    {
        var (p, error) = SubscriptionRules.Validate(new PreferencesRequest([" ", ""], "daily", "UTC", 8, 0, 0), 0.5);
        Assert.Null(p);
        Assert.Contains("interest", error);
    }

    [Theory]
    [InlineData("...")]
    [InlineData("12345")]
    [InlineData("-, -")]
    public void An_author_without_a_letter_is_refused_naming_the_field_and_the_value(string author)
    {
        var (p, error) = SubscriptionRules.Validate(Request() with { Authors = ["Grace Hopper", author] }, 0.5);
        Assert.Null(p);
        Assert.Contains("authors", error);
        Assert.Contains(author, error);
    }

    [Fact]
    public void Authors_are_kept_as_written()
    {
        var (p, error) = SubscriptionRules.Validate(Request() with { Authors = [" Hopper, Grace M. ", "Łukasz Kaiser"] }, 0.5);
        Assert.Null(error);
        Assert.Equal(["Hopper, Grace M.", "Łukasz Kaiser"], p!.Authors);
    }
}
