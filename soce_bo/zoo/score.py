"""Score zoo checkpoints (and the uniform expert soup) on the zoo benchmark, in a worker process.

This is the zoo's one deliberate upward import: the manifest's score table must be measured
with the same benchmark and HF reference backend the rest of soce_bo uses, so `soce_bo.evaluate`
is imported lazily here, never at module import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file

SplitScores = dict[str, dict[str, float]]  # split -> category -> mean score


def _score(backend, data_dir: Path, splits: Sequence[str]) -> tuple[SplitScores, dict[str, float]]:
    from soce_bo.evaluate.benchmarks.zoo import ZooBenchmark
    from soce_bo.evaluate.runner import evaluate_items

    bench = ZooBenchmark(data_dir)
    per_split, overall = {}, {}
    for split in splits:
        result = evaluate_items(bench, backend, bench.load(split), show_progress=False)
        per_split[split] = {c: round(s.accuracy, 6) for c, s in result.per_category.items()}
        overall[split] = round(result.overall, 6)
    return per_split, overall


def score_checkpoint(model_dir: str, data_dir: str, splits: Sequence[str]) -> tuple[SplitScores, dict[str, float]]:
    """Greedy HF scores of one checkpoint folder on each split."""
    from soce_bo.evaluate.hf_backend import HFBackend

    torch.set_num_threads(1)
    return _score(HFBackend.from_pretrained(model_dir), Path(data_dir), splits)


def average_state(model_dirs: Sequence[str], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted average of the checkpoints' tensors, accumulated in fp32."""
    total: dict[str, torch.Tensor] = {}
    for path, w in zip(model_dirs, weights, strict=True):
        for name, tensor in load_file(str(Path(path) / "model.safetensors")).items():
            acc = total.setdefault(name, torch.zeros(tensor.shape, dtype=torch.float32))
            acc.add_(tensor.float(), alpha=float(w))
    return total


def score_soup(model_dirs: Sequence[str], weights: Sequence[float], data_dir: str,
               splits: Sequence[str]) -> tuple[SplitScores, dict[str, float]]:
    """Scores of the weighted soup of `model_dirs`, built in memory (the zoo's sanity check)."""
    from soce_bo.evaluate.hf_backend import HFBackend

    torch.set_num_threads(1)
    state = average_state(model_dirs, weights)
    return _score(HFBackend.from_state(model_dirs[0], state.items()), Path(data_dir), splits)
