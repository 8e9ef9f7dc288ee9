"""Q1 streaming merge: soce_bo's writer vs mergekit 0.1.5's linear merge vs the copy bound.

Same synthetic fp32 Llama experts, same weights, same output dtype (fp32), each merge in its own
subprocess (peak RSS per merge), all in one run. Per (size, K): the copy bound first (it also
warms the page cache, so every tool reads the sources from memory), then soce_bo and mergekit,
alternating which goes first on each repeat. Outputs are deleted and `sync`ed between jobs so no
write-back of one job runs into the next.

Speedup = mergekit's durable time (run_merge + fsync of its output, since soce_bo fsyncs every
file before its atomic rename) / soce_bo's time; the no-fsync ratio is reported too.
Fraction of bound = bound time / soce_bo time. Error = max |soup - float64 soup| on the
embeddings, lm_head, final norm and every tensor of the first and last layer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.checkpoints import LlamaShape, make_pool
from bench.common import LoadSampler, console_log, median, parse_args, print_table, write_result

# name -> (shape, K values). ~10M, ~100M, ~400M and ~1B parameters; K = 8 only where 8 experts
# fit the 24 GiB page cache of this box next to the outputs (so every tool reads from memory).
FULL = {
    "10M": (LlamaShape(256, 688, 8, 4, 4, 64, 8000), [2, 4, 8]),
    "100M": (LlamaShape(768, 2048, 8, 12, 4, 64, 32000), [2, 4, 8]),
    "400M": (LlamaShape(1024, 2816, 24, 16, 8, 64, 32000), [2, 4]),
    "1B": (LlamaShape(2048, 5632, 16, 32, 8, 64, 32000), [2]),
}
QUICK = {"2M": (LlamaShape(128, 344, 4, 4, 2, 32, 4000), [3])}
GOALS = {"speedup_vs_mergekit": 2.0, "fraction_of_bound": 0.6}


def check_names(shape: LlamaShape) -> list[str]:
    last = shape.layers - 1
    return [n for n, _ in shape.tensors()
            if not n.startswith("model.layers.") or n.startswith(("model.layers.0.", f"model.layers.{last}."))]


def run_job(spec: dict) -> dict:
    """Run one merge in a fresh interpreter; returns its RESULT line plus the process wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench._merge_job", json.dumps(spec)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{spec['tool']} merge failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return {**json.loads(lines[-1][7:]), "process_wall_s": wall}


def clean(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()


def bench_config(size: str, shape: LlamaShape, experts: list[Path], k: int, repeats: int, work: Path) -> dict:
    weights = [float(w) for w in np.random.default_rng(k).dirichlet(np.ones(k))]
    models = [str(p) for p in experts[:k]]
    expert_bytes = (experts[0] / "model.safetensors").stat().st_size
    runs: dict[str, list[dict]] = {"bound": [], "soce": [], "mergekit": []}
    for rep in range(repeats):
        out = work / f"out_{size}_{k}_{rep}"
        spec = {"models": models, "weights": weights, "out_bytes": expert_bytes}
        runs["bound"].append(run_job({**spec, "tool": "bound", "out": str(out)}))
        clean(out)
        order = ["soce", "mergekit"] if rep % 2 == 0 else ["mergekit", "soce"]
        for tool in order:
            check = check_names(shape) if rep == 0 else []
            runs[tool].append(run_job({**spec, "tool": tool, "out": str(out), "check": check}))
            clean(out)
        console_log(f"merge {size} K={k} rep {rep}: " + ", ".join(
            f"{t} {runs[t][-1]['seconds_durable']:.2f}s" for t in ("bound", "soce", "mergekit")))
    soce = median(r["seconds_durable"] for r in runs["soce"])
    mk = median(r["seconds_durable"] for r in runs["mergekit"])
    mk_nosync = median(r["seconds"] for r in runs["mergekit"])
    bound = median(r["seconds"] for r in runs["bound"])
    out_gb = runs["soce"][0]["out_bytes"] / 1e9
    return {
        "size": size, "params": shape.params, "k": k, "weights": weights, "expert_gb": expert_bytes / 1e9,
        "out_gb": out_gb, "repeats": repeats,
        "seconds": {"soce": soce, "mergekit": mk, "mergekit_no_fsync": mk_nosync, "bound": bound},
        "out_gb_per_s": {"soce": out_gb / soce, "mergekit": out_gb / mk, "bound": out_gb / bound},
        "traffic_gb_per_s": {t: (k + 1) * out_gb / s for t, s in (("soce", soce), ("mergekit", mk), ("bound", bound))},
        "speedup_vs_mergekit": mk / soce,
        "speedup_vs_mergekit_no_fsync": mk_nosync / soce,
        "fraction_of_bound": bound / soce,
        "peak_rss_gb": {t: max(r["rss_peak_bytes"] for r in runs[t]) / 1e9 for t in runs},
        "rss_above_base_gb": {t: max(r["rss_peak_bytes"] - r["rss_base_bytes"] for r in runs[t]) / 1e9 for t in runs},
        "error": {t: {key: runs[t][0][key] for key in ("max_abs_err", "max_rel_err", "rms_err", "checked_tensors")}
                  for t in ("soce", "mergekit")},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--sizes", {"default": None, "help": "comma-separated subset of " + ",".join(FULL)})])
    started = time.time()
    plan = QUICK if args.quick else FULL
    if args.sizes:
        plan = {s: FULL.get(s) or QUICK[s] for s in args.sizes.split(",")}
    repeats = lambda shape: 1 if args.quick or shape.params > 2e8 else 2  # noqa: E731
    rows = []
    work = Path(tempfile.mkdtemp(prefix="soce_bench_merge_"))
    try:
        with LoadSampler() as load:
            for size, (shape, ks) in plan.items():
                t0 = time.perf_counter()
                experts = make_pool(work / size, shape, max(ks))
                os.sync()
                console_log(f"merge: {max(ks)} experts of {size} ({shape.params / 1e6:.0f}M params) "
                            f"written in {time.perf_counter() - t0:.0f} s")
                for k in ks:
                    rows.append(bench_config(size, shape, experts, k, repeats(shape), work))
                shutil.rmtree(work / size, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("merge: soce_bo vs mergekit 0.1.5 vs copy bound (fp32, durable times)",
                ["size", "K", "out GB", "soce s", "mergekit s", "bound s", "soce GB/s", "x mergekit",
                 "x mk no-fsync", "of bound", "RSS soce GB", "RSS mk GB", "err soce", "err mk"],
                [[r["size"], r["k"], r["out_gb"], r["seconds"]["soce"], r["seconds"]["mergekit"],
                  r["seconds"]["bound"], r["out_gb_per_s"]["soce"], r["speedup_vs_mergekit"],
                  r["speedup_vs_mergekit_no_fsync"], r["fraction_of_bound"], r["rss_above_base_gb"]["soce"],
                  r["rss_above_base_gb"]["mergekit"], r["error"]["soce"]["max_abs_err"],
                  r["error"]["mergekit"]["max_abs_err"]] for r in rows])
    largest = max(rows, key=lambda r: (r["params"], r["k"]))
    summary = {
        "speedup_vs_mergekit": {"median": median(r["speedup_vs_mergekit"] for r in rows),
                                "min": min(r["speedup_vs_mergekit"] for r in rows),
                                "at_largest": largest["speedup_vs_mergekit"],
                                "median_no_fsync": median(r["speedup_vs_mergekit_no_fsync"] for r in rows)},
        "fraction_of_bound": {"median": median(r["fraction_of_bound"] for r in rows),
                              "min": min(r["fraction_of_bound"] for r in rows),
                              "at_largest": largest["fraction_of_bound"]},
        "largest": f"{largest['size']} K={largest['k']}",
        "soce_out_gb_per_s_median": median(r["out_gb_per_s"]["soce"] for r in rows),
        "max_abs_err": {t: max(r["error"][t]["max_abs_err"] for r in rows) for t in ("soce", "mergekit")},
        "peak_rss_above_base_over_expert_size": {
            t: max(r["rss_above_base_gb"][t] / r["expert_gb"] for r in rows) for t in ("soce", "mergekit")},
        "goals": GOALS,
        "goals_met": {"speedup_vs_mergekit": median(r["speedup_vs_mergekit"] for r in rows) >= GOALS["speedup_vs_mergekit"],
                      "fraction_of_bound": median(r["fraction_of_bound"] for r in rows) >= GOALS["fraction_of_bound"]},
        "statistic": "median over all (size, K) configs; min and at_largest also given",
    }
    payload = {"summary": summary, "configs": rows,
               "method": __doc__, "plan": {s: {"params": sh.params, "k": ks} for s, (sh, ks) in plan.items()}}
    path = write_result("merge", payload, args.out, args.quick, started, load)
    console_log(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
