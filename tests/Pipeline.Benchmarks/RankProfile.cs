using System.Text;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Rank.Ranking;
using Pipeline.Rank.Ranking.Relevance;

namespace Pipeline.Benchmarks;

/// <summary>
/// Where a Search or a Recommend spends its time inside rank, without gRPC, Redis or the embedder:
/// 100,000 synthetic papers (<see cref="RankSynthetic"/>) in an int8 <see cref="PaperIndex"/> and
/// a <see cref="RelevanceRanker"/>, then each stage timed on its own (p50 / p99 over distinct
/// queries, one thread), with the GC counts of the whole run.
/// <c>dotnet Pipeline.Benchmarks.dll rank-load profile [papers] [rounds]</c>.
/// </summary>
public static class RankProfile
{
    public static void Run(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300;
        var data = new RankSynthetic();
        var now = DateTimeOffset.UtcNow;
        var index = new PaperIndex(VectorPrecision.Int8);
        var relevance = new RelevanceRanker(index);
        var build = Stopwatch.StartNew();
        index.EnsureCapacity(count);
        for (var i = 0; i < count; i++)
        {
            var (paper, vector) = data.Paper(i, now);
            index.Upsert(paper, vector);
            relevance.Add(paper);
        }

        Console.WriteLine($"built {count} papers in {build.Elapsed.TotalSeconds:F1} s; heap {GC.GetTotalMemory(true) / 1e6:F0} MB; {Environment.ProcessorCount} cores");

        var searches = Enumerable.Range(0, rounds).Select(_ => new RelevanceQuery(data.QueryText(), data.QueryVector())).ToArray();
        var interests = Enumerable.Range(0, rounds)
            .Select(_ => data.Subscriber(0, "daily", now))
            .Select(s => s.Interests.Select((t, i) => new RelevanceQuery(t, s.Vectors[i])).ToArray())
            .ToArray();

        if (Environment.GetEnvironmentVariable("RANK_PROFILE_MINS") == "1")
        {
            SubscriberMinima(index, relevance, interests);
            return;
        }

        if (Environment.GetEnvironmentVariable("RANK_PROFILE_COLUMNS") == "1")
        {
            Columns(relevance, interests, searches);
            return;
        }

        if (Environment.GetEnvironmentVariable("RANK_PROFILE_SENT") == "1")
        {
            SentHistory(index, relevance, interests, count);
            return;
        }

        if (Environment.GetEnvironmentVariable("RANK_PROFILE_SLOW") == "1")
        {
            SlowestLexical(relevance, interests);
            return;
        }

        var gc0 = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        foreach (var (name, prefilter, parallel) in new[] { ("exact scans on one thread", int.MaxValue, int.MaxValue), ("exact scans on two threads", int.MaxValue, 32_768), ("1-bit prefilter, exact re-scoring", 0, int.MaxValue) })
        {
            (index.PrefilterFrom, index.ParallelThreshold) = (prefilter, parallel);
            Console.WriteLine($"-- {name}");
            Time("dense Top, 1 query, top 100", rounds, i => index.Top([searches[i].Vector], 100).Count);
            Time("dense Top, interests (1-5), top 100", rounds, i => index.Top(interests[i].Select(q => q.Vector).ToArray(), 100).Count);
            Time("lexical only, 1 query, top 100", rounds, i => relevance.Rank([searches[i]], 100, mode: RelevanceMode.Lexical).Count);
            Time("lexical only, interests, top 100", rounds, i => relevance.Rank(interests[i], 100, mode: RelevanceMode.Lexical).Count);
            Time("hybrid Rank, 1 query, limit 10", rounds, i => relevance.Rank([searches[i]], 10).Count);
            Time("hybrid Rank + reasons, 1 query, limit 10", rounds, i =>
            {
                var hits = relevance.Rank([searches[i]], 10);
                return hits.Sum(h => relevance.Explain(h, [searches[i].Text], "search").Length);
            });
            Time("hybrid Rank, interests, limit 40", rounds, i => relevance.Rank(interests[i], 40).Count);
        }

        // The prefilter's first pass alone: every row's sign code against the query codes.
        var rows = new VectorRows(PaperIndex.Dimensions, VectorPrecision.Int8, count);
        for (var i = 0; i < count; i++)
        {
            rows.Set(i, data.Near(i % data.Topics));
        }

        var distances = new ushort[count];
        foreach (var queryCount in new[] { 1, 3 })
        {
            var codes = new ulong[queryCount * rows.CodeWords];
            for (var q = 0; q < queryCount; q++)
            {
                VectorRows.SignCode(searches[q].Vector, codes.AsSpan(q * rows.CodeWords, rows.CodeWords));
            }

            // The kernel before the blocked layout (row-major codes, one pass per query, then a
            // vectorised minimum), kept here as the baseline of the same run.
            var rowMajor = new ulong[count * 6];
            for (var i = 0; i < count; i++)
            {
                VectorRows.SignCode(data.Near(i % data.Topics), rowMajor.AsSpan(i * 6, 6));
            }

            var other = new ushort[count];
            Time($"sign-code distances, {queryCount} queries, all rows, row-major baseline", rounds, _ =>
            {
                var histogram = new int[PaperIndex.Dimensions + 2];
                RowMajorDistances(rowMajor, codes.AsSpan(0, 6), distances);
                for (var q = 1; q < queryCount; q++)
                {
                    RowMajorDistances(rowMajor, codes.AsSpan(q * 6, 6), other);
                    System.Numerics.Tensors.TensorPrimitives.Min(distances, other, distances);
                }

                foreach (var d in distances)
                {
                    histogram[d]++;
                }

                return histogram[0];
            });
            foreach (var vectorised in new[] { false, true })
            {
                Time($"sign-code distances, {queryCount} queries, all rows{(vectorised ? ", AVX-512" : ", scalar popcount")}", rounds, _ =>
                {
                    var histogram = new int[PaperIndex.Dimensions + 2];
                    VectorRows.NearestCodes(rows.Codes(count), codes, rows.CodeWords, distances, histogram, vectorised);
                    return histogram[0];
                });
            }
        }

        index.PrefilterFrom = 0;
        foreach (var candidates in new[] { 500, 2_000, 8_000 })
        {
            index.PrefilterCandidates = candidates;
            Time($"prefiltered Top, 1 query, top 10, {candidates} re-scored", rounds, i => index.Top([searches[i].Vector], 10).Count);
        }

        index.PrefilterCandidates = 2_000;

        // What the prefilter gives up: the share of the exact top k it also returns.
        foreach (var (what, sets) in new[] { ("1 query", searches.Select(q => new[] { q.Vector }).ToArray()), ("interests (1-5)", interests.Select(s => s.Select(q => q.Vector).ToArray()).ToArray()) })
        {
            foreach (var k in new[] { 10, 100 })
            {
                var recall = 0.0;
                foreach (var queries in sets)
                {
                    index.PrefilterFrom = int.MaxValue;
                    var exact = index.Top(queries, k).Select(s => s.Paper.Paper.Id).ToHashSet();
                    index.PrefilterFrom = 0;
                    recall += index.Top(queries, k).Count(s => exact.Contains(s.Paper.Paper.Id)) / (double)exact.Count;
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prefilter recall@{k}, {what}: {recall / sets.Length:F4} (mean over {sets.Length})"));
            }
        }

        index.PrefilterFrom = int.MaxValue;
        var board = new TrendingBoard(index, new Feedback());
        Time("trending Top, week, limit 10 (not kept)", rounds, _ => board.Top(TrendingWindowKind.Week, "", 10, now).Count);

        Console.WriteLine($"GC counts during the timings: gen0 {GC.CollectionCount(0) - gc0.Item1}, gen1 {GC.CollectionCount(1) - gc0.Item2}, gen2 {GC.CollectionCount(2) - gc0.Item3}; server GC {System.Runtime.GCSettings.IsServerGC}");
    }

    /// <summary>
    /// <c>RANK_PROFILE_MINS=1</c>: Recommend's ranking (hybrid, prefilter on, limit 40) for every
    /// subscriber seven times over; each subscriber's fastest of the last six is what the call costs
    /// without the machine's noise, so the spread of those minima is the tail that comes from the
    /// subscribers themselves, next to the spread of all calls. Each call is made twice, with the
    /// two sides at once (<see cref="RelevanceRanker.ConcurrentSides"/>) and in turn. Then the
    /// costliest subscribers with their dense and lexical sides timed apart.
    /// </summary>
    private static void SubscriberMinima(PaperIndex index, RelevanceRanker relevance, RelevanceQuery[][] interests)
    {
        index.PrefilterFrom = 0;
        // Each subscriber ranked with its two sides at once (ConcurrentSides, the product) and in
        // turn, alternating call by call, so both variants see the same moments of the machine.
        var minima = new double[interests.Length];
        var minimaInTurn = new double[interests.Length];
        Array.Fill(minima, double.MaxValue);
        Array.Fill(minimaInTurn, double.MaxValue);
        var all = new List<double>();
        var allInTurn = new List<double>();
        var (gen0, gen1, gen2, paused) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        for (var pass = 0; pass < 7; pass++)
        {
            for (var i = 0; i < interests.Length; i++)
            {
                foreach (var concurrent in (pass + i) % 2 == 0 ? new[] { true, false } : [false, true])
                {
                    relevance.ConcurrentSides = concurrent;
                    var start = Stopwatch.GetTimestamp();
                    relevance.Rank(interests[i], 40);
                    var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    if (pass > 0)
                    {
                        var (kept, calls) = concurrent ? (minima, all) : (minimaInTurn, allInTurn);
                        kept[i] = Math.Min(kept[i], ms);
                        calls.Add(ms);
                    }
                }
            }
        }

        relevance.ConcurrentSides = true;
        var rankings = interests.Length * 7 * 2;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{rankings} rankings: {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1024.0 / rankings:F0} KB allocated a ranking (all threads); GC gen0 {GC.CollectionCount(0) - gen0}, gen1 {GC.CollectionCount(1) - gen1}, gen2 {GC.CollectionCount(2) - gen2}, paused {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:F0} ms in all"));
        foreach (var (what, kept, calls) in new[] { ("sides at once", minima, all), ("sides in turn", minimaInTurn, allInTurn) })
        {
            var sorted = kept.Order().ToArray();
            calls.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{what}: {interests.Length} subscribers, each one's fastest of 6: p50 {sorted[sorted.Length / 2]:F3} p90 {sorted[(int)(sorted.Length * 0.9)]:F3} p99 {sorted[(int)(sorted.Length * 0.99)]:F3} max {sorted[^1]:F3} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{what}: all {calls.Count} calls: p50 {calls[calls.Count / 2]:F3} p90 {calls[(int)(calls.Count * 0.9)]:F3} p99 {calls[(int)(calls.Count * 0.99)]:F3} ms"));
        }

        foreach (var i in Enumerable.Range(0, minima.Length).OrderByDescending(i => minima[i]).Take(8))
        {
            var dense = Stopwatch.GetTimestamp();
            index.Top(interests[i].Select(q => q.Vector).ToArray(), 100);
            var denseMs = Stopwatch.GetElapsedTime(dense).TotalMilliseconds;
            var lexical = Stopwatch.GetTimestamp();
            relevance.Rank(interests[i], 100, mode: RelevanceMode.Lexical);
            var lexicalMs = Stopwatch.GetElapsedTime(lexical).TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{minima[i],7:F3} ms (dense top 100 {denseMs:F3}, lexical top 100 {lexicalMs:F3}) {interests[i].Length} interests: {string.Join(" | ", interests[i].Select(q => q.Text))}"));
        }
    }

    /// <summary>The bytes of the managed heap that what <paramref name="make"/> makes holds, after full collections.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static long HeldBy(Func<object> make)
    {
        var before = GC.GetTotalMemory(true);
        var made = make();
        var held = GC.GetTotalMemory(true) - before;
        GC.KeepAlive(made);
        return held;
    }

    private static IReadOnlyList<RelevanceHit> LeftOutByBitmap(RelevanceRanker relevance, RelevanceQuery[] interests, SentPapers sent)
    {
        using var leftOut = LeftOut.Of(sent, []);
        return relevance.Rank(interests, 40, exclude: leftOut);
    }

    /// <summary>
    /// <c>RANK_PROFILE_SENT=1</c>: what a subscriber's history of sent papers costs. First the
    /// memory of 10,000 subscribers' histories of 300 papers, kept as the service once kept them
    /// (a concurrent dictionary of ids each) and as it keeps them now (<see cref="SentPapers"/>).
    /// Then Recommend's ranking (hybrid, prefilter on, limit 40) with no history, and with a
    /// history of 300 and of 3,000 papers given as a filter over a dictionary of ids, as a filter
    /// over the packed paper numbers, and left out by a bitmap made for the call
    /// (<see cref="LeftOut"/>, the service now), in turn call by call.
    /// </summary>
    private static void SentHistory(PaperIndex index, RelevanceRanker relevance, RelevanceQuery[][] interests, int count)
    {
        var random = new Random(7);
        string RandomId() => string.Create(CultureInfo.InvariantCulture, $"2611.{random.Next(count):D5}");

        // As rank reads them from Redis: a new string for each id, kept by the dictionary before,
        // dropped once numbered now (the numbers of the index's 100,000 papers exist already).
        var asDictionaries = HeldBy(() => Enumerable.Range(0, 10_000)
            .Select(_ => new System.Collections.Concurrent.ConcurrentDictionary<string, byte>(
                Enumerable.Range(0, 300).Select(_ => RandomId()).Distinct(StringComparer.Ordinal).Select(id => KeyValuePair.Create(id, (byte)0)), StringComparer.Ordinal))
            .ToArray());
        var asOrdinals = HeldBy(() =>
        {
            var feedback = new Feedback();
            for (var s = 0; s < 10_000; s++)
            {
                feedback.MarkSent($"s{s}", Enumerable.Range(0, 300).Select(_ => RandomId()).ToArray());
            }

            return feedback;
        });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"10,000 subscribers sent 300 papers each: {asDictionaries / 1e6:F0} MB as dictionaries of ids ({asDictionaries / 3e6:F0} B a paper), {asOrdinals / 1e6:F1} MB as paper numbers ({asOrdinals / 3e6:F1} B a paper)"));

        index.PrefilterFrom = 0;
        relevance.ConcurrentSides = false;
        foreach (var history in new[] { 300, 3_000 })
        {
            var ids = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
            while (ids.Count < history)
            {
                ids.TryAdd(RandomId(), 1);
            }

            var ordinals = new SentPapers();
            ordinals.Add(ids.Keys);
            Func<IndexedPaper, bool> asFilter = p => !ids.ContainsKey(p.Paper.Id);
            Func<IndexedPaper, bool> numbersAsFilter = p => !ordinals.Contains(p);
            var times = Enumerable.Range(0, 4).Select(_ => new List<double>()).ToArray();
            var differing = 0;
            for (var pass = 0; pass < 4; pass++)
            {
                for (var i = 0; i < interests.Length; i++)
                {
                    var answers = new string[4][];
                    for (var k = 0; k < 4; k++)
                    {
                        var way = (pass + i + k) % 4;
                        var start = Stopwatch.GetTimestamp();
                        var hits = way switch
                        {
                            0 => relevance.Rank(interests[i], 40),
                            1 => relevance.Rank(interests[i], 40, asFilter),
                            2 => relevance.Rank(interests[i], 40, numbersAsFilter),
                            _ => LeftOutByBitmap(relevance, interests[i], ordinals),
                        };
                        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        answers[way] = hits.Select(h => h.Paper.Paper.Id).ToArray();
                        if (pass > 0)
                        {
                            times[way].Add(ms);
                        }
                    }

                    differing += answers[1].SequenceEqual(answers[2]) && answers[2].SequenceEqual(answers[3]) ? 0 : 1;
                }
            }

            var line = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"sent {history}:"));
            foreach (var (name, list) in new[] { ("no history", times[0]), ("ids as a filter", times[1]), ("numbers as a filter", times[2]), ("left out, bitmap made per call", times[3]) })
            {
                list.Sort();
                line.Append(string.Create(CultureInfo.InvariantCulture, $" {name} mean {list.Average():F3} p50 {list[list.Count / 2]:F3} p99 {list[(int)(list.Count * 0.99)]:F3} ms;"));
            }

            Console.WriteLine(line.Append(string.Create(CultureInfo.InvariantCulture, $" answers differing between the three: {differing} of {4 * interests.Length}")));
        }
    }

    /// <summary>
    /// <c>RANK_PROFILE_SLOW=1</c>: the lexical side of every subscriber's interests, eight times
    /// over (the total of each pass), then three queries of common words alone (200 times each),
    /// then the slowest interest lists of the last pass with each term's share of the papers (a
    /// common word is on most of them: its whole list is read).
    /// </summary>
    /// <summary>
    /// Common terms read from their columns against their posting lists
    /// (<see cref="LexicalIndex.ReadColumns"/>), alternating call by call: the subscribers' lexical
    /// sides, their hybrid rankings with the sides in turn, and queries of common words only; and
    /// whether the answers are the same.
    /// </summary>
    private static void Columns(RelevanceRanker relevance, RelevanceQuery[][] interests, RelevanceQuery[] searches)
    {
        var single = searches.Select(q => new[] { q }).ToArray();
        var lexical = relevance.Lexical;
        relevance.ConcurrentSides = false;
        var commonOnly = new[] { "base", "approach benchmark", "learn show propose", "model data", "result method paper" }
            .Select(t => new[] { new RelevanceQuery(t, interests[0][0].Vector) }).ToArray();
        var differing = 0;
        var differingPapers = 0;
        var (week, day) = (DateTimeOffset.UtcNow.AddDays(-7), DateTimeOffset.UtcNow.AddDays(-1));
        foreach (var (what, queries, limit, mode, since) in new (string, RelevanceQuery[][], int, RelevanceMode, DateTimeOffset?)[]
        {
            ("subscribers' interests, lexical top 100", interests, 100, RelevanceMode.Lexical, null),
            ("subscribers' interests, hybrid limit 40, sides in turn", interests, 40, RelevanceMode.Hybrid, null),
            ("common words only, lexical top 100", commonOnly, 100, RelevanceMode.Lexical, null),
            ("searches, lexical top 100", single, 100, RelevanceMode.Lexical, null),
            ("searches, hybrid limit 10, sides in turn", single, 10, RelevanceMode.Hybrid, null),
            ("interests since 7 days, lexical top 100", interests, 100, RelevanceMode.Lexical, week),
            ("interests since 7 days, hybrid limit 40, sides in turn", interests, 40, RelevanceMode.Hybrid, week),
            ("interests since 1 day, lexical top 100", interests, 100, RelevanceMode.Lexical, day),
        })
        {
            var times = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
            for (var pass = 0; pass < 7; pass++)
            {
                for (var i = 0; i < queries.Length; i++)
                {
                    var answers = new Dictionary<bool, string>();
                    var ids = new Dictionary<bool, string>();
                    foreach (var columns in (pass + i) % 2 == 0 ? new[] { true, false } : [false, true])
                    {
                        lexical.ReadColumns = columns;
                        var start = Stopwatch.GetTimestamp();
                        var hits = relevance.Rank(queries[i], limit, mode: mode, seenSince: since);
                        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        if (pass > 0)
                        {
                            times[columns].Add(ms);
                        }

                        answers[columns] = string.Join(",", hits.Select(h => $"{h.Paper.Paper.Id}:{h.Score:R}:{h.Lexical:R}"));
                        ids[columns] = string.Join(",", hits.Select(h => h.Paper.Paper.Id));
                    }

                    differing += answers[true] == answers[false] ? 0 : 1;
                    differingPapers += ids[true] == ids[false] ? 0 : 1;
                }
            }

            foreach (var columns in new[] { true, false })
            {
                var sorted = times[columns].Order().ToArray();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{what}, {(columns ? "columns" : "lists only")}: {sorted.Length} calls, mean {sorted.Average():F3} p50 {sorted[sorted.Length / 2]:F3} p90 {sorted[(int)(sorted.Length * 0.9)]:F3} p99 {sorted[(int)(sorted.Length * 0.99)]:F3} ms"));
            }
        }

        lexical.ReadColumns = true;
        relevance.ConcurrentSides = true;
        Console.WriteLine($"answers that differed between the two: {differing} (in their papers or order: {differingPapers}); queries read with columns: {lexical.ColumnSearches}");
    }

    private static void SlowestLexical(RelevanceRanker relevance, RelevanceQuery[][] interests)
    {
        var timed = new List<(double Ms, RelevanceQuery[] Queries)>();
        var totals = new List<double>();
        for (var pass = 0; pass < 8; pass++)
        {
            var all = Stopwatch.StartNew();
            foreach (var queries in interests)
            {
                var start = Stopwatch.GetTimestamp();
                relevance.Rank(queries, 100, mode: RelevanceMode.Lexical);
                if (pass == 7)
                {
                    timed.Add((Stopwatch.GetElapsedTime(start).TotalMilliseconds, queries));
                }
            }

            if (pass > 0)
            {
                totals.Add(all.Elapsed.TotalMilliseconds);
            }
        }

        totals.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{interests.Length} subscribers' interests, lexical top 100: ms a pass, sorted, after the first: {string.Join(" ", totals.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))}"));
        // Queries of common words only (each on 80 % of the synthetic papers): their lists are read whole.
        foreach (var text in new[] { "base", "approach benchmark", "learn show propose" })
        {
            var single = new List<double>();
            for (var i = 0; i < 200; i++)
            {
                var start = Stopwatch.GetTimestamp();
                relevance.Rank([new RelevanceQuery(text, interests[0][0].Vector)], 100, mode: RelevanceMode.Lexical);
                single.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            single.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"'{text}' alone, lexical top 100: p50 {single[100]:F3} ms, least {single[0]:F3} ms"));
        }

        foreach (var (ms, queries) in timed.OrderByDescending(t => t.Ms).Take(10))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{ms,7:F3} ms  {string.Join(" | ", queries.Select(q => string.Join(" ", RelevanceRanker.TermsOf(q.Text).Select(t => $"{t}:{relevance.ShareOf(t):F2}"))))}"));
        }
    }

    private static void Time(string what, int rounds, Func<int, int> run)
    {
        for (var i = 0; i < Math.Min(20, rounds); i++)
        {
            run(i);
        }

        var times = new List<double>(rounds);
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < rounds; i++)
        {
            var start = Stopwatch.GetTimestamp();
            run(i);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        var perCall = (GC.GetAllocatedBytesForCurrentThread() - allocated) / rounds;
        times.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what,-45} p50 {times[times.Count / 2],7:F3} ms  p99 {times[Math.Min(times.Count - 1, (int)(times.Count * 0.99))],7:F3} ms  {perCall / 1024.0,7:F1} KB/call"));
    }

    private static void RowMajorDistances(ulong[] rows, ReadOnlySpan<ulong> query, ushort[] distances)
    {
        var (q0, q1, q2, q3, q4, q5) = (query[0], query[1], query[2], query[3], query[4], query[5]);
        for (int r = 0, o = 0; r < distances.Length; r++, o += 6)
        {
            distances[r] = (ushort)(System.Numerics.BitOperations.PopCount(rows[o] ^ q0) + System.Numerics.BitOperations.PopCount(rows[o + 1] ^ q1)
                + System.Numerics.BitOperations.PopCount(rows[o + 2] ^ q2) + System.Numerics.BitOperations.PopCount(rows[o + 3] ^ q3)
                + System.Numerics.BitOperations.PopCount(rows[o + 4] ^ q4) + System.Numerics.BitOperations.PopCount(rows[o + 5] ^ q5));
        }
    }
}
