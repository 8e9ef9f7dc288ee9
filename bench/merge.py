"""Q1 streaming merge: soce_bo's writer vs mergekit 0.1.5's linear merge vs the copy bound.

Same synthetic fp32 Llama experts, same weights, same output dtype (fp32), all in one run. Per
(size, K) each tool gets a fresh worker process (`bench._merge_job`): its first merge is "cold"
(and gives the peak RSS of one merge), then 2-3 "warm" rounds follow, the order of the tools
alternating between rounds so that load drift on the shared box hits all of them alike. The copy
bound runs first (it also warms the page cache, so every tool reads its sources from memory).
Outputs are deleted and `sync`ed between jobs so no write-back of one job runs into the next.

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

# name -> (shape, K values): ~10M, ~100M and ~350M parameters (fp32). Fewer experts at the largest
# size: sources + outputs must stay in this 24 GiB box's page cache, and the whole bench within
# ~25 min on 2 shared cores. ~1B (K = 2) takes ~5 min more here: `--sizes 10M,100M,400M,1B`.
FULL = {
    "10M": (LlamaShape(256, 688, 8, 4, 4, 64, 8000), [2, 4, 8]),
    "100M": (LlamaShape(768, 2048, 8, 12, 4, 64, 32000), [2, 4, 8]),
    "400M": (LlamaShape(1024, 2816, 24, 16, 8, 64, 32000), [2, 4]),
}
EXTRA = {"1B": (LlamaShape(2048, 5632, 16, 32, 8, 64, 32000), [2])}
QUICK = {"2M": (LlamaShape(128, 344, 4, 4, 2, 32, 4000), [3])}
ERROR_KEYS = ("max_abs_err", "max_rel_err", "rms_err", "checked_tensors")
GOALS = {"speedup_vs_mergekit": 2.0, "fraction_of_bound": 0.6}


def check_names(shape: LlamaShape) -> list[str]:
    last = shape.layers - 1
    return [n for n, _ in shape.tensors()
            if not n.startswith("model.layers.") or n.startswith(("model.layers.0.", f"model.layers.{last}."))]


class Worker:
    """A `bench._merge_job` process for one tool; jobs go in on stdin, results come back on stdout."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.proc = subprocess.Popen([sys.executable, "-m", "bench._merge_job", tool], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])

    def run(self, spec: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                if "error" in result:
                    raise RuntimeError(f"{self.tool} merge failed: {result['error']}")
                return result
        raise RuntimeError(f"{self.tool} merge worker died (exit {self.proc.wait()})")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def warm_page_cache(paths: list[Path]) -> None:
    """Read the sources once, untimed: the cold round then means a cold process, not a cold disk
    (this VM's DAMON reclaim evicts file pages that were written a while ago)."""
    buf = memoryview(bytearray(64 * 2**20))
    for path in paths:
        for file in path.glob("*.safetensors"):
            with open(file, "rb", buffering=0) as fh:
                while fh.readinto(buf):
                    pass


def clean(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()


def _stats(runs: list[dict], key: str = "seconds_durable") -> dict[str, float]:
    warm = [r[key] for r in runs[1:]] or [runs[0][key]]
    return {"cold": runs[0][key], "warm": median(warm)}


def bench_config(size: str, shape: LlamaShape, experts: list[Path], k: int, repeats: int, work: Path) -> dict:
    """Cold merge of each tool, then `repeats` warm rounds in alternating order; then soce_bo's parts."""
    weights = [float(w) for w in np.random.default_rng(k).dirichlet(np.ones(k))]
    expert_bytes = (experts[0] / "model.safetensors").stat().st_size
    spec = {"models": [str(p) for p in experts[:k]], "weights": weights, "out_bytes": expert_bytes,
            "out": str(work / f"out_{size}_{k}")}
    workers = {tool: Worker(tool) for tool in ("bound", "soce", "mergekit")}
    warm_page_cache(experts[:k])
    runs: dict[str, list[dict]] = {tool: [] for tool in workers}
    try:
        for rnd in range(repeats + 1):
            order = ["bound", "soce", "mergekit"] if rnd % 2 == 0 else ["mergekit", "soce", "bound"]
            for tool in order:
                check = check_names(shape) if rnd == 0 and tool != "bound" else []
                runs[tool].append(workers[tool].run({**spec, "check": check}))
                clean(Path(spec["out"]))
            console_log(f"merge {size} K={k} {'cold' if rnd == 0 else f'warm {rnd}'}: " + ", ".join(
                f"{t} {runs[t][-1]['seconds_durable']:.2f}s" for t in workers))
        breakdown = workers["soce"].run({**spec, "breakdown": True})["parts"]
        clean(Path(spec["out"]))
    finally:
        for w in workers.values():
            w.close()
    t = {tool: _stats(r) for tool, r in runs.items()}
    t["mergekit_no_fsync"] = _stats(runs["mergekit"], "seconds")
    t["bound_read"] = _stats(runs["bound"], "read_seconds")
    out_gb = runs["soce"][0]["out_bytes"] / 1e9
    row = {
        "size": size, "params": shape.params, "k": k, "weights": weights, "expert_gb": expert_bytes / 1e9,
        "out_gb": out_gb, "warm_repeats": repeats, "seconds": t,
        "out_gb_per_s": {tool: out_gb / t[tool]["warm"] for tool in ("soce", "mergekit", "bound")},
        "traffic_gb_per_s": {tool: (k + 1) * out_gb / t[tool]["warm"] for tool in ("soce", "mergekit", "bound")},
        "peak_rss_gb": {tool: runs[tool][0]["rss_peak_bytes"] / 1e9 for tool in runs},
        "rss_above_base_gb": {tool: (runs[tool][0]["rss_peak_bytes"] - runs[tool][0]["rss_base_bytes"]) / 1e9
                              for tool in runs},
        "error": {tool: {key: runs[tool][0][key] for key in ERROR_KEYS} for tool in ("soce", "mergekit")},
        "runs": runs,
        "soce_breakdown_s": breakdown,
    }
    # Ratios are paired per round (the tools ran back to back), then the median over warm rounds.
    def paired(a: str, b: str, key_a: str = "seconds_durable", key_b: str = "seconds_durable") -> dict[str, float]:
        ratios = [ra[key_a] / rb[key_b] for ra, rb in zip(runs[a], runs[b], strict=True)]
        return {"cold": ratios[0], "warm": median(ratios[1:] or ratios[:1])}

    ratios = {"speedup_vs_mergekit": paired("mergekit", "soce"),
              "speedup_vs_mergekit_no_fsync": paired("mergekit", "soce", "seconds"),
              "fraction_of_bound": paired("bound", "soce"),
              "cpu_speedup_vs_mergekit": paired("mergekit", "soce", "cpu_seconds", "cpu_seconds")}
    for key, value in ratios.items():
        row[key], row[key + "_cold"] = value["warm"], value["cold"]
    row["cpu_seconds"] = {tool: _stats(r, "cpu_seconds") for tool, r in runs.items()}
    # A copy whose reads and writes overlap perfectly would take max(read, write): a stricter bound.
    read, total = t["bound_read"]["warm"], t["bound"]["warm"]
    row["fraction_of_overlapped_bound"] = max(read, total - read) / t["soce"]["warm"]
    return row


def fits_in_memory(expert_bytes: int, k: int) -> bool:
    """Sources + two outputs must fit the page cache, or every tool would measure the disk."""
    import psutil

    return (k + 2) * expert_bytes < 0.8 * psutil.virtual_memory().available


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--sizes", {"default": None, "help": "comma-separated, from " + ",".join([*FULL, *EXTRA, *QUICK])})])
    started = time.time()
    plan = QUICK if args.quick else FULL
    if args.sizes:
        known = {**FULL, **EXTRA, **QUICK}
        plan = {s: known[s] for s in args.sizes.split(",")}
    repeats = lambda shape: 1 if args.quick else 3 if shape.params < 2e8 else 2  # noqa: E731  (warm rounds)
    rows, skipped = [], []
    work = Path(tempfile.mkdtemp(prefix="soce_bench_merge_"))
    try:
        with LoadSampler() as load:
            for size, (shape, ks) in plan.items():
                expert_bytes = shape.params * 4
                ks_ok = [k for k in ks if fits_in_memory(expert_bytes, k)]
                skipped += [{"size": size, "k": k, "reason": "sources + outputs exceed 80% of available RAM"}
                            for k in ks if k not in ks_ok]
                if not ks_ok:
                    continue
                t0 = time.perf_counter()
                experts = make_pool(work / size, shape, max(ks_ok))
                os.sync()
                console_log(f"merge: {max(ks_ok)} experts of {size} ({shape.params / 1e6:.0f}M params) "
                            f"written in {time.perf_counter() - t0:.0f} s")
                for k in ks_ok:
                    rows.append(bench_config(size, shape, experts, k, repeats(shape), work))
                shutil.rmtree(work / size, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table("merge: soce_bo vs mergekit 0.1.5 vs copy bound (fp32; warm medians, durable times)",
                ["size", "K", "out GB", "soce s", "mergekit s", "bound s", "soce GB/s", "x mergekit",
                 "x mk cold", "x mk no-fsync", "of bound", "RSS+ soce GB", "RSS+ mk GB", "err soce", "err mk"],
                [[r["size"], r["k"], r["out_gb"], r["seconds"]["soce"]["warm"], r["seconds"]["mergekit"]["warm"],
                  r["seconds"]["bound"]["warm"], r["out_gb_per_s"]["soce"], r["speedup_vs_mergekit"],
                  r["speedup_vs_mergekit_cold"], r["speedup_vs_mergekit_no_fsync"], r["fraction_of_bound"],
                  r["rss_above_base_gb"]["soce"], r["rss_above_base_gb"]["mergekit"],
                  r["error"]["soce"]["max_abs_err"], r["error"]["mergekit"]["max_abs_err"]] for r in rows])
    largest = max(rows, key=lambda r: (r["params"], r["k"]))

    def agg(key: str) -> dict[str, float]:
        return {"median": median(r[key] for r in rows), "min": min(r[key] for r in rows),
                "max": max(r[key] for r in rows), "at_largest": largest[key]}

    speed, frac = agg("speedup_vs_mergekit"), agg("fraction_of_bound")
    ceiling = [r["seconds"]["mergekit"]["warm"] / r["seconds"]["bound"]["warm"] for r in rows]
    summary = {
        "speedup_vs_mergekit": speed,
        "speedup_vs_mergekit_cold": agg("speedup_vs_mergekit_cold"),
        "speedup_vs_mergekit_no_fsync": agg("speedup_vs_mergekit_no_fsync"),
        "fraction_of_bound": frac,
        "fraction_of_overlapped_bound": agg("fraction_of_overlapped_bound"),
        # mergekit time / bound time: the speedup a writer AT the copy bound would have; >= 2x mergekit is
        # only reachable where this is >= 2
        "speedup_vs_mergekit_at_bound": {"median": median(ceiling), "min": min(ceiling), "max": max(ceiling)},
        "largest": f"{largest['size']} K={largest['k']}",
        "soce_out_gb_per_s_median": median(r["out_gb_per_s"]["soce"] for r in rows),
        "max_abs_err": {t: max(r["error"][t]["max_abs_err"] for r in rows) for t in ("soce", "mergekit")},
        "max_rel_err": {t: max(r["error"][t]["max_rel_err"] for r in rows) for t in ("soce", "mergekit")},
        "peak_rss_above_base_over_expert_size": {
            t: {"max": max(r["rss_above_base_gb"][t] / r["expert_gb"] for r in rows),
                "at_largest": largest["rss_above_base_gb"][t] / largest["expert_gb"]} for t in ("soce", "mergekit")},
        "skipped": skipped,
        "goals": GOALS,
        "goals_met": {"speedup_vs_mergekit": speed["median"] >= GOALS["speedup_vs_mergekit"],
                      "fraction_of_bound": frac["median"] >= GOALS["fraction_of_bound"]},
        "statistic": "per config: median of warm repeats (cold = first merge in a fresh process); "
                     "summary: median over all (size, K) configs, min/max/at_largest also given",
    }
    payload = {"summary": summary, "configs": rows, "method": __doc__,
               "plan": {s: {"params": sh.params, "k": ks} for s, (sh, ks) in plan.items()}}
    return write_result("merge", payload, args.out, args.quick, started, load)


if __name__ == "__main__":
    main()
