"""The synthetic checkpoints (bench/checkpoints.py) and the search bench's worker processes."""

from __future__ import annotations

from bench.checkpoints import LlamaShape, make_llama


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
