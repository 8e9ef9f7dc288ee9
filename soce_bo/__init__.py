"""soce_bo: Soup of Category Experts with Bayesian optimization and a hot-swapping vLLM server.

Data path, one package per stage (later stages import earlier ones, never the reverse; checked by
tests/test_layering.py): values.py (shared value types), atomic.py, errors.py -> soup/ (read, mix,
write) -> serve/ (vLLM server + worker extension) -> evaluate/ (benchmarks, backends, scores) ->
analysis/ (correlation, experts), search/ (strategies), zoo/ (tiny expert checkpoints and their
benchmark) -> recipe/ (the driver's steps) -> report/ (tables, plots) -> run.py (Hydra command line).
"""

__version__ = "0.1.0"
