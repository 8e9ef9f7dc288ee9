"""Score zoo checkpoints (and the uniform expert soup) on the zoo benchmark, in a worker process.

The manifest's score table must be measured with the same benchmark, evaluation loop, soup
arithmetic and HF reference backend the rest of soce_bo uses, so this module uses them directly:
the zoo sits above `soce_bo.evaluate` and `soce_bo.soup` in the package's layering.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from soce_bo.evaluate.backend import GenerationBackend
from soce_bo.evaluate.hf_backend import HFBackend
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.soup.mix import iter_soup
from soce_bo.soup.validate import validate_pool
from soce_bo.zoo.benchmark import ZooBenchmark

SplitScores = dict[str, dict[str, float]]  # split -> category -> mean score


def _score(backend: GenerationBackend, data_dir: Path, splits: Sequence[str]) -> tuple[SplitScores, dict[str, float]]:
    bench = ZooBenchmark(data_dir)
    per_split, overall = {}, {}
    for split in splits:
        result = evaluate_items(bench, backend, bench.load(split), show_progress=False)
        per_split[split] = {c: round(s.accuracy, 6) for c, s in result.per_category.items()}
        overall[split] = round(result.overall, 6)
    return per_split, overall


def score_checkpoint(model_dir: str, data_dir: str, splits: Sequence[str]) -> tuple[SplitScores, dict[str, float]]:
    """Greedy HF scores of one checkpoint folder on each split."""
    torch.set_num_threads(1)
    return _score(HFBackend.from_pretrained(model_dir), Path(data_dir), splits)


def score_soup(model_dirs: Sequence[str], weights: Sequence[float], data_dir: str,
               splits: Sequence[str]) -> tuple[SplitScores, dict[str, float]]:
    """Scores of the weighted soup of `model_dirs`, mixed in memory by `soce_bo.soup` (fp32)."""
    torch.set_num_threads(1)
    soup = iter_soup(validate_pool(model_dirs), weights)
    return _score(HFBackend.from_state(model_dirs[0], soup), Path(data_dir), splits)
