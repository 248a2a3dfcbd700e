using Google.Protobuf.WellKnownTypes;

namespace Pipeline.Contracts.Conversions;

/// <summary>
/// A protobuf <see cref="Timestamp"/> as a client sent it: any seconds and nanos go over the wire,
/// but only years 1 to 9999 and nanos 0 to 999,999,999 are a time (ToDateTimeOffset throws on the
/// rest). Checked here without an exception, so one paper's bad time is that paper's problem alone.
/// </summary>
public static class TimestampConversions
{
    /// <summary>What a reason says of a timestamp that is no time.</summary>
    public const string ValidRange = "years 1 to 9999, nanos 0 to 999999999";

    // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the bounds Timestamp itself checks.
    private const long MinSeconds = -62_135_596_800;
    private const long MaxSeconds = 253_402_300_799;

    public static bool IsValid(this Timestamp timestamp) =>
        timestamp.Seconds is >= MinSeconds and <= MaxSeconds && timestamp.Nanos is >= 0 and <= 999_999_999;

    /// <summary>The time, or false (and no exception) for a timestamp outside <see cref="ValidRange"/>.</summary>
    public static bool TryToDateTimeOffset(this Timestamp timestamp, out DateTimeOffset value)
    {
        value = default;
        if (!timestamp.IsValid())
        {
            return false;
        }

        value = timestamp.ToDateTimeOffset();
        return true;
    }
}
