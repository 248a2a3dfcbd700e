using System.Globalization;

namespace Pipeline.Notify.Delivery;

/// <summary>When a subscriber wants digests: cadence, IANA time zone, local hour and (weekly) ISO weekday.</summary>
public sealed record DigestTiming(string Cadence, string TimeZone, int Hour, int Weekday = 1);

/// <summary>
/// One digest period: its id ("2026-11-26" for a daily digest, "2026-W48" for a weekly one) and the
/// instant it starts, which is when its digest is due.
/// </summary>
public sealed record DigestPeriod(string Id, DateTimeOffset Start, TimeSpan Length);

/// <summary>
/// The digest calendar in the subscriber's time zone. A daily period is the local date at the
/// subscriber's hour; a weekly one is the ISO week at their weekday and hour. Around DST changes an
/// hour that does not exist locally moves to the first one that does, and an hour that happens
/// twice counts once (the first time), so every period has exactly one start.
/// </summary>
public static class DigestCalendar
{
    /// <summary>The newest period that has started at or before <paramref name="now"/>: the one due now.</summary>
    public static DigestPeriod Current(DigestTiming timing, DateTimeOffset now)
    {
        var zone = Zone(timing.TimeZone);
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(now, zone).DateTime);
        if (IsWeekly(timing))
        {
            var day = today.AddDays(-DaysSince(today, timing.Weekday));
            var start = Start(zone, day, timing.Hour);
            return start <= now ? Weekly(day, start) : Weekly(day.AddDays(-7), Start(zone, day.AddDays(-7), timing.Hour));
        }

        var todayStart = Start(zone, today, timing.Hour);
        return todayStart <= now ? Daily(today, todayStart) : Daily(today.AddDays(-1), Start(zone, today.AddDays(-1), timing.Hour));
    }

    /// <summary>The first period that starts after <paramref name="now"/>: when the next digest is due.</summary>
    public static DigestPeriod Next(DigestTiming timing, DateTimeOffset now)
    {
        var zone = Zone(timing.TimeZone);
        var current = Current(timing, now);
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(current.Start, zone).DateTime);
        if (IsWeekly(timing))
        {
            // The start may have moved past a DST gap; the period's day is its weekday.
            day = day.AddDays(-DaysSince(day, timing.Weekday)).AddDays(7);
            return Weekly(day, Start(zone, day, timing.Hour));
        }

        // The period's own date, not its start's: a start moved past a DST gap can fall on the
        // next day (Nuuk's 23:00 skipped on a Saturday starts on Sunday at 00:00), and Sunday's
        // digest must still come.
        day = DateOnly.ParseExact(current.Id, "yyyy-MM-dd", CultureInfo.InvariantCulture).AddDays(1);
        return Daily(day, Start(zone, day, timing.Hour));
    }

    public static bool IsDigestCadence(string cadence) => cadence is "daily" or "weekly";

    private static bool IsWeekly(DigestTiming timing) => timing.Cadence == "weekly";

    private static DigestPeriod Daily(DateOnly day, DateTimeOffset start) =>
        new(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), start, TimeSpan.FromDays(1));

    private static DigestPeriod Weekly(DateOnly day, DateTimeOffset start)
    {
        var date = day.ToDateTime(TimeOnly.MinValue);
        return new(string.Create(CultureInfo.InvariantCulture, $"{ISOWeek.GetYear(date)}-W{ISOWeek.GetWeekOfYear(date):00}"), start, TimeSpan.FromDays(7));
    }

    /// <summary>Days from the most recent <paramref name="isoWeekday"/> (1 = Monday) to <paramref name="day"/>, 0-6.</summary>
    private static int DaysSince(DateOnly day, int isoWeekday)
    {
        var iso = day.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)day.DayOfWeek;
        return ((iso - Math.Clamp(isoWeekday, 1, 7)) % 7 + 7) % 7;
    }

    /// <summary>The instant the local <paramref name="hour"/> of <paramref name="day"/> happens in <paramref name="zone"/>.</summary>
    private static DateTimeOffset Start(TimeZoneInfo zone, DateOnly day, int hour)
    {
        var local = day.ToDateTime(new TimeOnly(hour, 0), DateTimeKind.Unspecified);
        // Spring forward: 02:00 does not exist; the digest goes at the first local time that does.
        for (var i = 0; i < 4 * 6 && zone.IsInvalidTime(local); i++)
        {
            local = local.AddMinutes(15);
        }

        // Fall back: 02:30 happens twice; the first (larger offset) is the one.
        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset);
    }

    private static TimeZoneInfo Zone(string id) =>
        TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) ? zone : TimeZoneInfo.Utc;
}
