"""The synthetic soup objectives (bench/synthetic.py) and checkpoints (bench/checkpoints.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.checkpoints import LlamaShape, make_llama
from bench.synthetic import SimplexObjective


def test_problems_are_seeded_and_distinct():
    a, b, c = SimplexObjective(4, 0), SimplexObjective(4, 0), SimplexObjective(4, 1)
    w = {"e0": 0.1, "e1": 0.2, "e2": 0.3, "e3": 0.4}
    assert a.true_value(w) == b.true_value(w)
    assert a(w).objective == b(w).objective
    assert a.true_value(w) != c.true_value(w)


def test_true_accuracies_are_probabilities_with_an_interior_or_vertex_optimum():
    fn = SimplexObjective(3, 7)
    w = np.random.default_rng(0).dirichlet(np.ones(3), size=5000)
    p = fn.accuracies(w)
    assert p.shape == (5000, 3)
    assert (p > 0).all() and (p < 1).all()
    best = p.mean(axis=1).max()
    assert fn.optimum() >= best - 1e-3  # optimum() searches at least as well as these samples


def test_observations_are_binomial_around_the_truth():
    fn = SimplexObjective(3, 2, n_items=50)
    soups = np.random.default_rng(1).dirichlet(np.ones(3), size=3000)
    z = []
    for w in soups:
        weights = dict(zip(fn.experts, w))
        res = fn(weights)
        for cat in res.per_category.values():  # scores are counts / n
            assert cat.n == 50 and abs(cat.accuracy * 50 - round(cat.accuracy * 50)) < 1e-9
        z.append((res.objective - fn.true_value(weights)) / fn.objective_sem(weights))
    z = np.array(z)
    assert abs(z.mean()) < 4 / np.sqrt(len(z))  # unbiased
    assert 0.9 < z.std() < 1.1  # objective_sem is the observation's standard error


def test_same_soup_same_score_like_greedy_decoding():
    fn = SimplexObjective(3, 0)
    assert fn({"e0": 0.5, "e1": 0.5}) == fn({"e0": 0.5, "e1": 0.5, "e2": 0.0})


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="k >= 2"):
        SimplexObjective(1, 0)


def test_synthetic_checkpoint_is_a_valid_llama(tmp_path):
    from safetensors import safe_open

    from soce_bo.soup.validate import validate_pool

    shape = LlamaShape(64, 128, 2, 2, 1, 32, 100)
    paths = [make_llama(tmp_path / f"m{i}", shape, seed=i) for i in range(2)]
    with safe_open(str(paths[0] / "model.safetensors"), framework="pt") as fh:
        names = list(fh.keys())
        assert fh.get_tensor("model.layers.1.mlp.down_proj.weight").shape == (64, 128)
        total = sum(fh.get_tensor(n).numel() for n in names)
    assert total == shape.params and len(names) == len(list(shape.tensors()))
    pool = validate_pool(paths, [0.5, 0.5])  # same architecture, distinct weights
    assert len(pool) == 2


def test_synthetic_problems_in_worker_processes_match_the_sequential_run():
    """The process pool of bench.search returns the same (seeded) results, in job order."""
    from bench.search import run_synthetic

    jobs = [(3, 0), (3, 1)]
    parallel = run_synthetic(jobs, workers=2, budget=5)
    sequential = run_synthetic(jobs, workers=1, budget=5)
    assert [(p["k"], p["seed"]) for p in parallel] == jobs
    for a, b in zip(parallel, sequential):
        assert a["strategies"]["bo"]["curves"] == b["strategies"]["bo"]["curves"]
        assert a["grid_best_true"] == b["grid_best_true"]
