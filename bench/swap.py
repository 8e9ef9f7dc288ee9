"""Q2 soup swap: apply a soup to a live vLLM server vs write the checkpoint and restart the engine.

Per model size, K = 3 experts. Swap path: one `SoupServer` on expert 0, `client.load_pool`
once, then `client.apply(weights)` for several random soups; its wall time covers the RPC, the
in-worker mix + `reload_weights`, the fingerprint check and the prefix-cache reset. Restart path
(what mergekit-evolve's on-disk mode does per trial): `soup_to_disk` the same soup, then start a
fresh `SoupServer` on it and wait for /health. Sizes: the tiny zoo's experts, and synthetic
Llamas (~25M and ~100M parameters, head_dim 64) carrying the zoo's tokenizer. Engine starts
cost 20-60 s and ~1.5 GB here, so per size the restart time has 2 samples: a write + a fresh
engine on the soup, and a write + the swap server's own start (same engine, config and size).

Bandwidth of the mix: (K + 1) x model bytes (K sources read, one soup written) / the worker's
mix+reload seconds, against the copy bound = the same bytes at this process's measured memory
copy bandwidth (one thread, large tensors). Swapping in each expert alone (weight 1: the mix
reads one source instead of K, the reload is unchanged) splits the time into mix and reload.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.checkpoints import SHAPE_25M, SHAPE_100M, make_pool
from bench.common import (LoadSampler, console_log, median, parse_args, print_table, single_thread_torch, write_result,
                          zoo_pool)

K = 3
SYNTHETIC = {"25M": SHAPE_25M, "100M": SHAPE_100M}
GOAL = 100.0


def memory_copy_gb_per_s(nbytes: int = 256 * 2**20, reps: int = 5) -> float:
    """Bytes moved (read + write) per second by a single-threaded tensor copy; best of `reps`."""
    import torch

    src = torch.ones(nbytes // 4)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best / 1e9


def bench_size(size: str, pool: list[Path], swaps: int, restarts: int, work: Path, fresh_starts: int) -> dict:
    """`swaps` in-place swaps on one server; `restarts` write + start samples, of which
    `fresh_starts` start a new engine on the soup and the rest reuse the swap server's start time."""
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import SoupServer
    from soce_bo.soup.write import soup_to_disk

    cfg = ServerConfig()
    rng = np.random.default_rng(0)
    soups = [[float(x) for x in rng.dirichlet(np.ones(K))] for _ in range(max(swaps, restarts))]
    model_bytes = sum(f.stat().st_size for f in pool[0].glob("*.safetensors"))
    with SoupServer(pool[0], cfg) as server, server.client() as client:
        first_start = server.startup_s
        info = client.load_pool(pool)
        applied = [client.apply(w) for w in soups[:swaps]]
        # One expert at weight 1: the mix reads one source instead of K, the reload is the same.
        single = [client.apply([1.0 if j == i else 0.0 for j in range(K)]) for i in range(K)]
    swap_wall = [s.wall_s for s in applied]
    swap_apply = [s.apply_s for s in applied]
    console_log(f"swap {size}: server start {first_start:.1f} s, pool load {info.load_s:.2f} s, "
                f"swap median {median(swap_wall):.3f} s")
    restart_rows = []
    for i in range(restarts):
        out = work / f"soup_{size}_{i}"
        t0 = time.perf_counter()
        written = soup_to_disk(pool, soups[i], out, progress=False)
        t_write = time.perf_counter() - t0
        if i < fresh_starts:
            with SoupServer(out, cfg) as fresh:
                t_start, started_on = fresh.startup_s, "soup"
        else:  # the swap server's own start: the same engine, config and model size
            t_start, started_on = first_start, "expert 0 (the swap server's start)"
        restart_rows.append({"write_s": t_write, "start_s": t_start, "total_s": t_write + t_start,
                             "written_bytes": written.bytes, "engine_started_on": started_on})
        shutil.rmtree(out, ignore_errors=True)
        console_log(f"swap {size}: restart {i}: write {t_write:.2f} s + start {t_start:.1f} s")
    restart = median(r["total_s"] for r in restart_rows)
    swap = median(swap_wall)
    traffic = (K + 1) * model_bytes
    return {
        "size": size, "model_bytes": model_bytes, "k": K, "swaps": swaps, "restarts": restarts,
        "first_server_start_s": first_start, "pool_load_s": info.load_s,
        "swap_wall_s": swap_wall, "swap_apply_s": swap_apply, "swap_reset_s": [s.reset_s for s in applied],
        "swap_wall_median_s": swap, "swap_apply_median_s": median(swap_apply),
        "single_expert_apply_s": [s.apply_s for s in single],
        "single_expert_apply_median_s": median(s.apply_s for s in single),
        "restart": restart_rows, "restart_median_s": restart,
        "speedup_vs_restart": restart / swap,
        "mix_traffic_gb": traffic / 1e9,
        "mix_gb_per_s": traffic / 1e9 / median(swap_apply),
    }


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv)
    single_thread_torch()
    started = time.time()
    sizes = {"zoo": None} if args.quick else {"zoo": None, **SYNTHETIC}
    swaps, restarts, fresh_starts = (3, 1, 1) if args.quick else (6, 2, 1)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="soce_bench_swap_"))
    try:
        with LoadSampler() as load:
            copy_bw = memory_copy_gb_per_s()
            for size, shape in sizes.items():
                if shape is None:
                    pool = zoo_pool()
                else:
                    pool = make_pool(work / size, shape, K, tokenizer_from=zoo_pool()[0])
                row = bench_size(size, pool, swaps, restarts, work, fresh_starts)
                row["params"] = shape.params if shape else None
                row["copy_bound_s"] = row["mix_traffic_gb"] / copy_bw
                row["fraction_of_copy_bound"] = row["copy_bound_s"] / row["swap_apply_median_s"]
                rows.append(row)
                if shape is not None:
                    shutil.rmtree(work / size, ignore_errors=True)
            copy_bw_end = memory_copy_gb_per_s()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("swap: in-place soup swap vs write + engine restart (K = 3, fp32 engine)",
                ["size", "model MB", "swap s", "mix+reload s", "1 expert s", "reset s", "restart s (write+start)",
                 "x restart", "mix GB/s", "of copy bound"],
                [[r["size"], r["model_bytes"] / 1e6, r["swap_wall_median_s"], r["swap_apply_median_s"],
                  r["single_expert_apply_median_s"], median(r["swap_reset_s"]), r["restart_median_s"],
                  r["speedup_vs_restart"], r["mix_gb_per_s"], r["fraction_of_copy_bound"]] for r in rows])
    speedups = {r["size"]: r["speedup_vs_restart"] for r in rows}
    summary = {
        "speedup_vs_restart": {"per_size": speedups, "min": min(speedups.values()),
                               "median": median(speedups.values())},
        "swap_wall_median_s": {r["size"]: r["swap_wall_median_s"] for r in rows},
        "restart_median_s": {r["size"]: r["restart_median_s"] for r in rows},
        "mix_fraction_of_copy_bound": {r["size"]: r["fraction_of_copy_bound"] for r in rows},
        "memory_copy_gb_per_s": {"start": copy_bw, "end": copy_bw_end},
        "goal": GOAL, "goal_met_all_sizes": min(speedups.values()) >= GOAL,
        "statistic": f"median of {swaps} swaps / median of {restarts} restarts per size",
    }
    return write_result("swap", {"summary": summary, "sizes": rows, "method": __doc__},
                        args.out, args.quick, started, load)


if __name__ == "__main__":
    main()
