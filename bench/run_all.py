"""Run the bench questions one after another in ONE session and write BENCHMARKS.md.

    python -m bench.run_all                          # all of them, full sizes (make bench)
    python -m bench.run_all --only merge,swap --quick

Each question runs in its own interpreter (`python -m bench.<name>`), so one question's memory,
threads or crash cannot distort the next; a failed question is reported and the others still
run (exit status 1 at the end). Full runs write bench/results/*.json and BENCHMARKS.md; quick
runs write bench/results/quick/ (BENCHMARKS.md there too), never the committed numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import REPO, LoadSampler, console_log, machine_info, parse_args
from bench.report import render
from soce_bo.atomic import atomic_write

QUESTIONS = ("merge", "swap", "throughput", "bo_overhead", "search", "search_suite", "racing")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--only", {"default": None, "help": "comma-separated subset of " + ",".join(QUESTIONS)})])
    names = QUESTIONS if not args.only else tuple(n.strip() for n in args.only.split(",") if n.strip())
    unknown = [n for n in names if n not in QUESTIONS]
    if unknown:
        print(f"error: unknown bench question(s) {unknown}; choose from {', '.join(QUESTIONS)}", file=sys.stderr)
        return 2
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = "python -m bench.run_all" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    started = time.time()
    status: dict[str, dict] = {}
    machine = machine_info()
    with LoadSampler(every_s=10.0) as load:
        for name in names:
            cmd = [sys.executable, "-m", f"bench.{name}", "--out", str(args.out)] + (["--quick"] if args.quick else [])
            console_log(f"[bold]bench {name}[/bold]: {' '.join(cmd[1:])}")
            t0 = time.perf_counter()
            code = subprocess.call(cmd, cwd=REPO, env=env)
            status[name] = {"exit_code": code, "wall_s": round(time.perf_counter() - t0, 1)}
            console_log(f"bench {name}: exit {code} after {status[name]['wall_s']:.0f} s")
    run = {"command": command, "quick": args.quick,
           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
           "wall_s": round(time.time() - started, 1), "status": status, "machine": machine, "load": load.summary()}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "run_all.json", json.dumps(run, indent=1) + "\n")
    target = args.out / "BENCHMARKS.md" if args.quick else REPO / "BENCHMARKS.md"
    atomic_write(target, render(args.out, run, target.parent))
    console_log(f"wrote {target} ({run['wall_s'] / 60:.1f} min in all)")
    return 0 if all(s["exit_code"] == 0 for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
