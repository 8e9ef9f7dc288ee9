"""Performance harness: one script per question, each writing bench/results/<name>.json.

Run everything with `python -m bench.run_all` (what `make bench` does) or one question with
`python -m bench.<name> [--quick]`. Ratios are measured side by side in one run on one machine,
so they stay fair on a shared, noisy CPU; absolute numbers are only comparable within a run.
"""
