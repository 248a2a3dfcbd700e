using Pipeline.Notify.Delivery;

namespace Pipeline.Notify.Tests;

public class DigestCalendarSpecs
{
    private static DateTimeOffset Utc(int year, int month, int day, int hour, int minute = 0) => new(year, month, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public void A_daily_period_is_the_local_date_once_the_subscribers_hour_has_come()
    {
        var berlin = new DigestTiming("daily", "Europe/Berlin", 8);
        // 07:30 UTC is 08:30 in Berlin (CET, UTC+1): today's digest is due.
        var period = DigestCalendar.Current(berlin, Utc(2026, 11, 26, 7, 30));
        Assert.Equal("2026-11-26", period.Id);
        Assert.Equal(Utc(2026, 11, 26, 7), period.Start);
    }

    [Fact]
    public void Before_the_subscribers_hour_the_due_period_is_yesterdays()
    {
        var berlin = new DigestTiming("daily", "Europe/Berlin", 8);
        Assert.Equal("2026-11-25", DigestCalendar.Current(berlin, Utc(2026, 11, 26, 6, 59)).Id);
        Assert.Equal(Utc(2026, 11, 26, 7), DigestCalendar.Next(berlin, Utc(2026, 11, 26, 6, 59)).Start);
    }

    [Fact]
    public void The_same_instant_is_a_different_local_date_on_the_other_side_of_the_world()
    {
        var now = Utc(2026, 11, 26, 20);
        // 20:00 UTC is 09:00 on the 27th in Auckland (NZDT, UTC+13) and 12:00 on the 26th in Los Angeles.
        Assert.Equal("2026-11-27", DigestCalendar.Current(new DigestTiming("daily", "Pacific/Auckland", 7), now).Id);
        Assert.Equal("2026-11-26", DigestCalendar.Current(new DigestTiming("daily", "America/Los_Angeles", 7), now).Id);
    }

    [Fact]
    public void A_digest_at_an_hour_that_daylight_saving_skips_goes_at_the_first_hour_that_exists()
    {
        // 29 March 2026: Berlin jumps from 02:00 CET to 03:00 CEST; 02:30 does not exist.
        var timing = new DigestTiming("daily", "Europe/Berlin", 2);
        var period = DigestCalendar.Current(timing, Utc(2026, 3, 29, 12));
        Assert.Equal("2026-03-29", period.Id);
        Assert.Equal(Utc(2026, 3, 29, 1), period.Start); // 03:00 CEST
    }

    [Fact]
    public void A_digest_moved_past_midnight_by_a_daylight_saving_gap_is_followed_by_the_next_days()
    {
        // 28 March 2026: Nuuk jumps from 23:00 (UTC-2) to 00:00 (UTC-1); Saturday's 23:00 does not
        // exist and its digest goes at 00:00 on Sunday. Sunday's own digest is still due at 23:00.
        var timing = new DigestTiming("daily", "America/Nuuk", 23);
        var saturday = DigestCalendar.Current(timing, Utc(2026, 3, 29, 1, 30));
        Assert.Equal(("2026-03-28", Utc(2026, 3, 29, 1)), (saturday.Id, saturday.Start));

        var next = DigestCalendar.Next(timing, Utc(2026, 3, 29, 1, 30));

        Assert.Equal(("2026-03-29", Utc(2026, 3, 30, 0)), (next.Id, next.Start));
    }

    [Fact]
    public void A_digest_at_an_hour_that_happens_twice_is_due_once_at_the_first()
    {
        // 25 October 2026: Berlin goes from 03:00 CEST back to 02:00 CET; 02:00-03:00 happens twice.
        var timing = new DigestTiming("daily", "Europe/Berlin", 2);
        var first = DigestCalendar.Current(timing, Utc(2026, 10, 25, 0, 30));
        Assert.Equal(("2026-10-25", Utc(2026, 10, 25, 0)), (first.Id, first.Start));
        // During the repeated hour it is still the same period, and the next is tomorrow's.
        Assert.Equal("2026-10-25", DigestCalendar.Current(timing, Utc(2026, 10, 25, 1, 30)).Id);
        Assert.Equal(("2026-10-26", Utc(2026, 10, 26, 1)), (DigestCalendar.Next(timing, Utc(2026, 10, 25, 1, 30)).Id, DigestCalendar.Next(timing, Utc(2026, 10, 25, 1, 30)).Start));
    }

    [Fact]
    public void Across_a_daylight_saving_change_the_digest_stays_at_the_local_hour()
    {
        var timing = new DigestTiming("daily", "America/New_York", 7);
        // 1 November 2026 ends EDT (UTC-4); 7:00 is 11:00 UTC before and 12:00 UTC after.
        Assert.Equal(Utc(2026, 10, 31, 11), DigestCalendar.Current(timing, Utc(2026, 10, 31, 15)).Start);
        Assert.Equal(Utc(2026, 11, 1, 12), DigestCalendar.Next(timing, Utc(2026, 10, 31, 15)).Start);
    }

    [Fact]
    public void A_weekly_period_is_the_iso_week_at_the_subscribers_weekday_and_hour()
    {
        // Thursday 26 November 2026 is in ISO week 48; the subscriber wants Mondays at 09:00 in Tokyo.
        var tokyoMondays = new DigestTiming("weekly", "Asia/Tokyo", 9, Weekday: 1);
        var period = DigestCalendar.Current(tokyoMondays, Utc(2026, 11, 26, 12));
        Assert.Equal("2026-W48", period.Id);
        Assert.Equal(Utc(2026, 11, 23, 0), period.Start); // Monday 09:00 JST
        Assert.Equal(("2026-W49", Utc(2026, 11, 30, 0)), (DigestCalendar.Next(tokyoMondays, Utc(2026, 11, 26, 12)).Id, DigestCalendar.Next(tokyoMondays, Utc(2026, 11, 26, 12)).Start));
    }

    [Fact]
    public void A_weekly_period_before_its_weekday_and_hour_is_last_weeks()
    {
        var fridays = new DigestTiming("weekly", "UTC", 17, Weekday: 5);
        Assert.Equal("2026-W47", DigestCalendar.Current(fridays, Utc(2026, 11, 27, 16, 59)).Id);
        Assert.Equal("2026-W48", DigestCalendar.Current(fridays, Utc(2026, 11, 27, 17)).Id);
        // The week of 31 December 2026 belongs to ISO year 2026, week 53.
        Assert.Equal("2026-W53", DigestCalendar.Current(fridays, Utc(2027, 1, 2, 0)).Id);
    }

    [Fact]
    public void After_three_days_of_downtime_the_due_period_is_the_newest_only()
    {
        var timing = new DigestTiming("daily", "UTC", 6);
        var lastSent = DigestCalendar.Current(timing, Utc(2026, 11, 23, 6, 5));
        var dueWhenBack = DigestCalendar.Current(timing, Utc(2026, 11, 26, 14));
        // One digest for the 26th (covering everything since the 23rd), not one per missed day.
        Assert.Equal(("2026-11-23", "2026-11-26"), (lastSent.Id, dueWhenBack.Id));
        Assert.True(DigestCalendar.Next(timing, Utc(2026, 11, 26, 14)).Start > Utc(2026, 11, 26, 14));
    }

    [Fact]
    public void Retries_of_a_failed_digest_back_off_and_stop_growing_at_thirty_minutes()
    {
        var first = TimeSpan.FromSeconds(30);
        Assert.Equal([30, 60, 120, 240], Enumerable.Range(1, 4).Select(n => DigestScheduler.RetryDelay(first, n).TotalSeconds));
        Assert.Equal(TimeSpan.FromMinutes(30), DigestScheduler.RetryDelay(first, 50));
    }

    [Fact]
    public void Attempts_at_kept_alerts_back_off_doubling_up_to_their_cap_and_wait_the_first_interval_while_nothing_fails()
    {
        var first = TimeSpan.FromSeconds(5);
        var max = TimeSpan.FromSeconds(60);
        Assert.Equal([5, 5, 10, 20, 40, 60, 60], new[] { 0, 1, 2, 3, 4, 5, 500 }.Select(n => Backoff.Doubling(first, max, n).TotalSeconds));
    }
}
