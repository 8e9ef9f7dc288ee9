"""soce_bo: Soup of Category Experts with Bayesian optimization and a hot-swapping vLLM server.

Data path, one package per stage (later stages import earlier ones, never the reverse):
zoo/ (tiny expert checkpoints) -> soup/ (read, mix, write) -> serve/ (vLLM server + worker extension)
-> evaluate/ (benchmarks, backends, scores) -> analysis/ (correlation, experts) -> search/ (strategies)
-> run.py (Hydra driver) -> report/ (tables, plots).
"""

__version__ = "0.1.0"
