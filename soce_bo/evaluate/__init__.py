"""Benchmarks, generation backends (vLLM server, HF reference) and per-category scoring."""
