"""Demo time: `make demo` from a fresh clone, as a new user runs it (issue 12: <= 15 min, the run <= 8).

Clones this repository's HEAD into a temporary folder, then times `make install` (a fresh .venv from
the lock) and `make demo` (the teams zoo of seed 0, from the shipped pretrained base, then the whole
SoCE run), splitting the demo into zoo and run with the clone's zoo.json timings and the run's
results.json. Checks that the clone built the same zoo, byte for byte, as this checkout's
artifacts/zoo_teams/seed0 when there is one. Run it on an otherwise idle machine: the result
records the load average beside it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, LoadSampler, console_log, parse_args, print_table, write_result

TOTAL_GOAL_S = 15 * 60  # install + zoo + run
RUN_GOAL_S = 8 * 60
ZOO = Path("artifacts") / "zoo_teams" / "seed0"


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` but zoo.json (its timings differ between builds)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "zoo.json"}


def timed(cmd: list[str], cwd: Path, log: Path) -> float:
    """Run `cmd` with its output appended to `log`; seconds of wall time (raises on failure)."""
    t0 = time.time()
    with open(log, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, check=True)
    return time.time() - t0


def measure(clone: Path) -> dict[str, Any]:
    log = clone.parent / "demo_time.log"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout.strip()
    console_log(f"clone of {commit[:8]} in {clone}; log: {log}")
    install_s = timed(["make", "install"], clone, log)
    console_log(f"make install: {install_s:.0f} s")
    demo_s = timed(["make", "demo"], clone, log)
    console_log(f"make demo: {demo_s:.0f} s")
    return summarize_clone(clone, commit, install_s, demo_s, REPO / ZOO)


def summarize_clone(clone: Path, commit: str, install_s: float, demo_s: float, reference: Path) -> dict[str, Any]:
    """The record of one timed demo: phases from the clone's zoo.json and results.json, and whether its
    zoo is `reference`'s, byte for byte (None when there is no reference zoo)."""
    zoo = json.loads((clone / ZOO / "zoo.json").read_text())
    results = sorted((clone / "outputs").rglob("results.json"), key=lambda p: p.stat().st_mtime)[-1]
    res = json.loads(results.read_text())
    same_zoo = file_hashes(clone / ZOO) == file_hashes(reference) if (reference / "zoo.json").is_file() else None
    final = res["final_soup"]
    verdict = next((c for c in res["comparisons"] if c["a"] == "final soup"), None)
    return {
        "commit": commit,
        "install_s": round(install_s, 1),
        "demo_s": round(demo_s, 1),
        "total_s": round(install_s + demo_s, 1),
        "zoo_build_s": zoo["timings"]["total_s"],
        "zoo_base": zoo["training"]["base"].get("pretrained", "trained"),
        "run_wall_s": round(res["run"]["wall_seconds"], 1),
        "zoo_identical_to_this_checkout": same_zoo,
        "final_soup": {"strategy": final["strategy"], "weights": final["weights"]},
        "final_vs_best_single": verdict,
        "fresh": {name: c["fresh"] for name, c in res["cost"].items()},
    }


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--keep", {"action": "store_true", "help": "keep the clone (its path is printed)"})])
    started = time.time()
    with LoadSampler() as load:
        tmp = Path(tempfile.mkdtemp(prefix="soce_demo_time_"))
        record = measure(tmp / "soce_bo")
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=True)
    record["goals"] = {"total_le_15_min": record["total_s"] <= TOTAL_GOAL_S, "run_le_8_min": record["run_wall_s"] <= RUN_GOAL_S}
    print_table("make demo from a fresh clone", ["install s", "zoo s", "run s", "total s", "same zoo", "goals"],
                [[record["install_s"], record["zoo_build_s"], record["run_wall_s"], record["total_s"],
                  record["zoo_identical_to_this_checkout"], record["goals"]]])
    summary = {k: record[k] for k in ("install_s", "demo_s", "total_s", "zoo_build_s", "run_wall_s", "goals")}
    return write_result("demo_time", {"summary": summary, "record": record}, args.out, args.quick, started, load)


def demo_time_section(d: dict) -> str:
    """BENCHMARKS.md section (bench.report)."""
    meta, r = d["meta"], d["record"]
    load = meta["loadavg_1min_during_run"] or {}
    verdict = r["final_vs_best_single"] or {}
    return "\n".join([
        "## 6c. `make demo` from a fresh clone (`demo_time.json`)",
        f"*`{meta['command']}`, finished {meta['finished']}, commit {r['commit'][:8]}, 1-min load average "
        f"{load.get('min', float('nan')):.1f}-{load.get('max', float('nan')):.1f} (median "
        f"{load.get('median', float('nan')):.1f}) on {meta['machine']['nproc']} cores.*", "",
        "| make install | zoo build (base: " + str(r["zoo_base"]) + ") | run | total | goal | same zoo as this checkout |",
        "|---|---|---|---|---|---|",
        f"| {r['install_s']:.0f} s | {r['zoo_build_s']:.0f} s | {r['run_wall_s']:.0f} s | {r['total_s']:.0f} s "
        f"({r['total_s'] / 60:.1f} min) | <= 15 min total, run <= 8 min: "
        f"**{'met' if all(r['goals'].values()) else 'missed'}** | {r['zoo_identical_to_this_checkout']} |", "",
        f"The demo's final soup ({r['final_soup']['strategy']}): "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["final_soup"]["weights"].items())
        + (f"; against the best single candidate on test {verdict['difference'] * 100:+.2f} pp, "
           f"p = {verdict['p_value']:.4f}." if verdict else "."),
    ])


if __name__ == "__main__":
    main()
