using BenchmarkDotNet.Running;
using Pipeline.Benchmarks;

if (args is ["embed-compare", ..])
{
    // Not a BenchmarkDotNet run: every embedding path in one process, interleaved (see EmbedComparison).
    EmbedComparison.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5);
    return;
}

if (args is ["embed-short", ..])
{
    // Not a BenchmarkDotNet run: one short query per model run, in process (see EmbedShort).
    EmbedShort.Run(args[1..]);
    return;
}

if (args is ["ingest-throughput", ..])
{
    // Not a BenchmarkDotNet run: real broker, Redis and ingest process (see IngestThroughput).
    await IngestThroughput.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000);
    return;
}

if (args is ["rank-load", ..])
{
    // Not a BenchmarkDotNet run: real broker, Redis, embed and rank processes (see RankLoad).
    await RankLoad.RunAsync(args[1..]);
    return;
}

if (args is ["embed-tail", ..])
{
    // Not a BenchmarkDotNet run: the embed process and the parts of its call, one client (see EmbedTail).
    await EmbedTail.RunAsync(args[1..]);
    return;
}

if (args is ["notify-delivery", ..])
{
    // Not a BenchmarkDotNet run: Redis, an SMTP server, RabbitMQ and the notify process (see NotifyDelivery).
    await NotifyDelivery.RunAsync(args[1..]);
    return;
}

if (args is ["load-held", ..])
{
    // Not a BenchmarkDotNet run: the whole pipeline under a burst of papers and subscribers (see LoadHeld).
    Environment.ExitCode = await LoadHeld.RunAsync(args[1..]);
    return;
}

// Every benchmark of the pipeline; pick with --filter, list with --list flat.
BenchmarkSwitcher.FromAssembly(typeof(RankProfile).Assembly).Run(args);
