"""Q2 soup swap: apply a soup to a live vLLM server vs write the checkpoint and restart the engine.

Per model size (the tiny zoo, synthetic ~25M and ~100M Llamas carrying the zoo's tokenizer) and
tensor-parallel size (1 and 2; one core per rank), K = 3 experts, fp32 engine. Swap path: one
`SoupServer` on expert 0, `client.load_pool(pool, storage="host")` once (each rank keeps its
shard of every expert in the model's loaded layout), then `client.apply(weights)` for several
random soups; its wall time covers the RPC, the in-worker mix into the live weights + oneDNN
repacking (what vLLM does after any load on CPU), the fingerprint check and the prefix-cache
reset. `unpacked` rows: `server.cpu_pack_linears=false`, i.e. linears run torch's F.linear on plain
weights that the mix writes in place, so nothing is repacked per trial (their generation time of a
fixed batch is recorded beside the packed engines'). `mmap` = the same soups with the experts kept as memory-mapped files and full tensors
streamed through vLLM's `reload_weights` (the previous design, still used for pools too large to
hold). Restart path (mergekit-evolve's on-disk mode): `write_soup` the soup, then a fresh
engine until /health; the engine start is the swap server's own start (same engine, config, size
and TP), so each (size, TP) costs one engine start.

Copy bound per rank: (K reads + 1 write) x that rank's shard bytes / the memory-copy bandwidth
measured in this process (one thread, large tensors; each rank runs on its own core), i.e. the
time a perfect mix into the live weights would take. Swapping each expert alone (weight 1: the
mix reads one shard instead of K, the repack is unchanged) splits the time into mix and repack.
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
GOAL_SPEEDUP = 100.0
GOAL_FRACTION = 0.6
GEN_PROMPTS, GEN_TOKENS = 32, 16


def memory_copy_gb_per_s(nbytes: int = 256 * 2**20, reps: int = 5) -> float:
    """Bytes moved (read + write) per second by a single-threaded tensor copy; best of `reps`."""
    import torch

    src = torch.ones(nbytes // 4)
    dst = torch.ones_like(src)  # touched: no page faults in the timed copies
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best / 1e9


def bench_case(size: str, tp: int, pool: list[Path], swaps: int, work: Path, copy_bw: float,
               cpu_pack: bool = True) -> dict:
    """One engine at this TP: `swaps` soups with host shards, the same with mmap, one write, and
    the generation time of a fixed batch (what unpacked linears cost at generation)."""
    from soce_bo.values import GenRequest
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import SoupServer
    from soce_bo.soup.write import write_soup

    cfg = ServerConfig(tensor_parallel_size=tp, cpu_pack_linears=cpu_pack)
    batch = [GenRequest(f"kv: a={i} b={i + 1} c={i + 2}\nkey: b\nvalue: ", GEN_TOKENS) for i in range(GEN_PROMPTS)]
    rng = np.random.default_rng(0)
    soups = [[float(x) for x in rng.dirichlet(np.ones(K))] for _ in range(swaps)]
    model_bytes = sum(f.stat().st_size for f in pool[0].glob("*.safetensors"))
    with SoupServer(pool[0], cfg) as server, server.client() as client:
        start_s = server.startup_s
        info = client.load_pool(pool, storage="host")
        applied = [client.apply(w) for w in soups]
        single = [client.apply([1.0 if j == i else 0.0 for j in range(K)]) for i in range(K)]
        client.generate(batch)  # warm
        t0 = time.perf_counter()
        client.generate(batch)
        generate_s = time.perf_counter() - t0
        mmap_info = client.load_pool(pool, storage="mmap")
        mmapped = [client.apply(w) for w in soups]
    out = work / f"soup_{size}_tp{tp}"
    t0 = time.perf_counter()
    written = write_soup(pool, soups[0], out, progress=False)
    write_s = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    swap = median(s.wall_s for s in applied)
    apply_med = median(s.apply_s for s in applied)
    shard = max(info.shard_bytes_per_expert)
    bound = (K + 1) * shard / (copy_bw * 1e9)
    restart = write_s + start_s
    console_log(f"swap {size} TP {tp}{'' if cpu_pack else ' unpacked'}: start {start_s:.1f} s, pool load {info.load_s:.2f} s, swap {swap * 1e3:.1f} ms "
                f"(mix {apply_med * 1e3:.1f} ms, bound {bound * 1e3:.1f} ms), mmap "
                f"{median(s.apply_s for s in mmapped) * 1e3:.1f} ms, restart {restart:.1f} s")
    return {
        "size": size if cpu_pack else f"{size} unpacked", "tp": tp, "cpu_pack_linears": cpu_pack,
        "model_bytes": model_bytes, "k": K, "swaps": swaps,
        "generate_s": generate_s, "generate_batch": f"{GEN_PROMPTS} prompts x {GEN_TOKENS} tokens",
        "storage": info.storage, "shard_bytes_per_expert_per_rank": list(info.shard_bytes_per_expert),
        "resident_bytes_per_rank": list(info.resident_bytes), "measured_bytes_per_rank": list(info.measured_bytes),
        "server_start_s": start_s, "pool_load_s": info.load_s, "pool_load_mmap_s": mmap_info.load_s,
        "swap_wall_s": [s.wall_s for s in applied], "swap_apply_s": [s.apply_s for s in applied],
        "swap_reset_s": [s.reset_s for s in applied],
        "swap_wall_median_s": swap, "swap_apply_median_s": apply_med,
        "single_expert_apply_s": [s.apply_s for s in single],
        "single_expert_apply_median_s": median(s.apply_s for s in single),
        "mmap_apply_s": [s.apply_s for s in mmapped], "mmap_apply_median_s": median(s.apply_s for s in mmapped),
        "mmap_wall_median_s": median(s.wall_s for s in mmapped),
        "write_s": write_s, "written_bytes": written.bytes,
        "restart_median_s": restart, "restart": [{"write_s": write_s, "start_s": start_s, "total_s": restart,
                                                  "engine_started_on": "expert 0 (the swap server's start)"}],
        "speedup_vs_restart": restart / swap,
        "copy_bound_s": bound, "fraction_of_copy_bound": bound / apply_med,
        "mix_traffic_gb": (K + 1) * shard / 1e9, "mix_gb_per_s": (K + 1) * shard / 1e9 / apply_med,
        "mmap_fraction_of_copy_bound": bound / median(s.apply_s for s in mmapped),
    }


def memory_plans(work: Path) -> dict:
    """The memory plan of the shipped paper configs on 8 x 80 GB and 8 x 141 GB GPUs (1 TB node RAM),
    for K = 3 selected experts and for every candidate, from header-only checkpoints of the real
    shapes (tests/serve/fake_models.py). Computed, not measured: the README quotes these tables."""
    import sys

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.memory_plan import plan_memory

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "tests" / "serve"))
    from fake_models import write_fake_model

    paper = {"bfcl_70b": ("llama3_70b", 4), "bfcl_8b": ("llama3_8b", 5), "mgsm_7b": ("llama2_7b", 4)}
    out: dict = {}
    for experiment, (arch, candidates) in paper.items():
        with initialize_config_dir(config_dir=str(repo / "conf"), version_base="1.3"):
            server = OmegaConf.to_container(compose("run", overrides=[f"+experiment={experiment}"]).server, resolve=True)
        folder = write_fake_model(work / "plans" / arch, arch)
        for gb in (80, 141):
            cfg = ServerConfig.from_mapping({**server, "gpu_memory_gb": gb, "host_memory_gb": 1000})
            for k in sorted({3, candidates}):
                plan = plan_memory(cfg, folder, n_experts=k, replicas=1, gpus_available=8)
                out[f"{experiment}/{gb}GB/K{k}"] = {
                    "fits": not plan.problems(), "storage": plan.resolved_storage, "table": plan.table(),
                    "total_per_gpu_bytes": plan.device_total_bytes, "host_pinned_bytes": plan.host_pinned_bytes,
                    "kv_cache_bytes": plan.kv_cache_bytes, "model_shard_bytes": plan.model_shard_bytes}
    return out


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv)
    single_thread_torch()
    started = time.time()
    sizes = {"zoo": None} if args.quick else {"zoo": None, **SYNTHETIC}
    tps = (1,) if args.quick else (1, 2)
    swaps = 3 if args.quick else 6
    rows = []
    work = Path(tempfile.mkdtemp(prefix="soce_bench_swap_"))
    try:
        plans = memory_plans(work)
        with LoadSampler() as load:
            copy_bw = memory_copy_gb_per_s()
            for size, shape in sizes.items():
                if shape is None:
                    pool = zoo_pool()
                else:
                    pool = make_pool(work / size, shape, K, tokenizer_from=zoo_pool()[0])
                for cpu_pack in ((True,) if shape is None or args.quick else (True, False)):
                    for tp in tps:
                        row = bench_case(size, tp, pool, swaps, work, copy_bw, cpu_pack)
                        row["params"] = shape.params if shape else None
                        rows.append(row)
                if shape is not None:
                    shutil.rmtree(work / size, ignore_errors=True)
            copy_bw_end = memory_copy_gb_per_s()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("swap: in-place soup swap vs write + engine restart (K = 3, fp32 engine, host shards)",
                ["size", "TP", "model MB", "swap s", "mix s", "1 expert s", "bound s", "of bound", "mmap s",
                 "restart s", "x restart"],
                [[r["size"], r["tp"], r["model_bytes"] / 1e6, r["swap_wall_median_s"], r["swap_apply_median_s"],
                  r["single_expert_apply_median_s"], r["copy_bound_s"], r["fraction_of_copy_bound"],
                  r["mmap_apply_median_s"], r["restart_median_s"], r["speedup_vs_restart"]] for r in rows])
    key = [f"{r['size']}/tp{r['tp']}" for r in rows]
    packed = [k for k, r in zip(key, rows) if r["cpu_pack_linears"]]
    speedups = dict(zip(key, (r["speedup_vs_restart"] for r in rows)))
    fractions = dict(zip(key, (r["fraction_of_copy_bound"] for r in rows)))
    summary = {
        "speedup_vs_restart": {"per_size": speedups, "min": min(speedups.values()),
                               "median": median(speedups.values())},
        "swap_wall_median_s": dict(zip(key, (r["swap_wall_median_s"] for r in rows))),
        "restart_median_s": dict(zip(key, (r["restart_median_s"] for r in rows))),
        "mix_fraction_of_copy_bound": fractions,
        "mmap_fraction_of_copy_bound": dict(zip(key, (r["mmap_fraction_of_copy_bound"] for r in rows))),
        "memory_copy_gb_per_s": {"start": copy_bw, "end": copy_bw_end},
        "goal": GOAL_SPEEDUP, "goal_met_all_sizes": min(speedups.values()) >= GOAL_SPEEDUP,
        "goal_fraction_of_copy_bound": GOAL_FRACTION,
        "goal_fraction_met_all_sizes": min(fractions[k] for k in packed) >= GOAL_FRACTION,
        "goal_fraction_met_unpacked": (min(v for k, v in fractions.items() if k not in packed) >= GOAL_FRACTION
                                       if len(packed) < len(key) else None),
        "generate_s": dict(zip(key, (r["generate_s"] for r in rows))),
        "statistic": f"median of {swaps} swaps per size and TP; restart = one write + the engine's start",
        "memory_plans_fit": all(v["fits"] for v in plans.values()),
    }
    return write_result("swap", {"summary": summary, "sizes": rows, "memory_plans": plans, "method": __doc__},
                        args.out, args.quick, started, load)


if __name__ == "__main__":
    main()
