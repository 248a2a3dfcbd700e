namespace Pipeline.Notify.Delivery;

/// <summary>The waits between tries of something that keeps failing (a digest, a kept alert).</summary>
public static class Backoff
{
    /// <summary>first, first × 2, first × 4, ... up to <paramref name="max"/>; first after no failure or one.</summary>
    public static TimeSpan Doubling(TimeSpan first, TimeSpan max, int failures) =>
        TimeSpan.FromSeconds(Math.Min(max.TotalSeconds, first.TotalSeconds * Math.Pow(2, Math.Clamp(failures - 1, 0, 20))));
}
