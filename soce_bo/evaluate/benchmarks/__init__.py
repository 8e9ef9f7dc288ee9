"""One module per benchmark; each exposes a class implementing `soce_bo.evaluate.benchmark.Benchmark`."""
