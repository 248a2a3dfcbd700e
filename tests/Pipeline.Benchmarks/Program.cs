using BenchmarkDotNet.Running;

// Every benchmark of the pipeline; pick with --filter, list with --list flat.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
