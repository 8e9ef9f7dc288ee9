"""Q3b search on the synthetic suite: BO vs CMA-ES vs random at 20 fresh evaluations, K = 3..8.

Problems: `soce_bo.search.suite` (per-item paired observations of known landscapes). For each K,
every combination of optimum location (interior, face, vertex) and interference (weak, strong)
-- 6 settings -- with dev items per category alternating 100 / 500 between them (`--per-k 3`:
one setting per location, interference and items rotating with K -- what the CPU budget of the
shared 2-core bench box allowed), `--seeds-per-setting` problem seeds each (1 by default), drawn in
turn from the suite's REPORT seeds (`--seeds tune` uses the TUNE seeds: for choosing settings).
Every strategy is built as the run builds it (conf/search/<name>.yaml) with budget 20, gets the
experts alone and the uniform soup free (`run_search(free=...)`, as in a run), and runs through
`run_search` with a ledger (one per problem, so no strategy sees another's trials; no Ax
snapshots: nothing is resumed here). BO uses the
CPU-cheap acquisition (bench.common.CHEAP_ACQF) and one torch thread; `--bo` adds BO variants
as `name:key=value,key=value` (e.g. `bo_pc:model=per_category`).

Returned soup = `SearchRun.best()` (best observed complete result among free + own trials).
Wins: BO's returned soup has true value >= CMA-ES's (random's), ties included (1e-12).
Reach (K <= 6): BO's best true value among its evaluated soups (free ones included) >= the best
true value on the SoCE grid (w_i in 0.1..0.9, not evaluated: true values are known) - 0.5 x the
SEM of one dev observation at the grid's best soup. Test = the returned soup's score on the
held-out items.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CHEAP_ACQF, LoadSampler, console_log, parse_args, print_table, single_thread_torch, write_result
from soce_bo.search import Ledger, run_search
from soce_bo.search.configs import build_strategy
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.grid import grid_points
from soce_bo.search.suite import REPORT_SEEDS, TUNE_SEEDS, Setting, SuiteProblem
from soce_bo.search.uniform import UniformSoup

BUDGET = 20
KS = (3, 4, 5, 6, 7, 8)
LOCATIONS = ("interior", "face", "vertex")
INTERFERENCES = ("weak", "strong")
ITEMS = (100, 500)
GOALS = {"vs_cmaes": 0.7, "vs_random": 0.7, "reach_k_le_6": 0.95}


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """`name:key=value,...` -> (name, overrides); values parsed as int/float when they look like one."""
    name, _, rest = spec.partition(":")
    overrides: dict[str, Any] = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        for cast in (int, float):
            try:
                overrides[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            overrides[key] = value
    return name, overrides


def suite_settings(ks: tuple[int, ...], per_k: int = 6) -> list[Setting]:
    """Per K: location x interference (6), items alternating so that neither is confounded with it.

    per_k = 3 keeps one setting per location, interference and items rotating with K.
    """
    out = []
    for k in ks:
        if per_k >= 6:
            for i, (loc, inter) in enumerate((loc, inter) for loc in LOCATIONS for inter in INTERFERENCES):
                out.append(Setting(k, ITEMS[(i // 2 + i + k) % 2], loc, inter))
        else:
            for j, loc in enumerate(LOCATIONS[:per_k]):
                out.append(Setting(k, ITEMS[(k // 2 + j) % 2], loc, INTERFERENCES[(k + j) % 2]))
    return out


def run_problem(problem: SuiteProblem, bo_variants: dict[str, dict[str, Any]], seed: int) -> dict[str, Any]:
    """Every strategy on one problem, each with its own ledger holding only the free points."""
    from soce_bo.search.bo import quiet_ax

    quiet_ax()
    experts = problem.experts
    out: dict[str, Any] = {"setting": problem.setting.label, "k": problem.k, "seed": problem.seed,
                           "location": problem.setting.location, "interference": problem.setting.interference,
                           "items": problem.setting.items, "strategies": {}}
    specs: dict[str, tuple[str, dict[str, Any]]] = {"cmaes": ("cmaes", {}), "random": ("random", {})}
    specs.update({name: ("bo", {"acqf": CHEAP_ACQF, **o}) for name, o in bo_variants.items()})
    for name, (config, overrides) in specs.items():
        with tempfile.TemporaryDirectory(prefix="soce_suite_") as tmp:
            ledger = Ledger(Path(tmp) / "ledger.jsonl")
            alone = run_search(FixedPoints.vertices(experts), [problem], ledger, progress=False)
            uni = run_search(UniformSoup(experts, name="uniform_all"), [problem], ledger, progress=False)
            free = [*alone.records, *uni.records]
            strategy = build_strategy(config, experts, seed, budget=BUDGET, name=name, **overrides)
            t0 = time.perf_counter()
            run = run_search(strategy, [problem], ledger, state_dir=tmp, progress=False, free=free, snapshots=False)
            seconds = time.perf_counter() - t0
        best = run.best()
        true_seen = [problem.true_value(r.weights) for r in [*run.free, *run.records]]
        out["strategies"][name] = {
            "returned_true": problem.true_value(best.weights), "returned_test": problem.test_score(best.weights).objective,
            "returned_weights": best.weights, "best_true_seen": max(true_seen), "fresh": run.fresh,
            "total": run.total, "distinct_fresh": len({tuple(sorted(r.weights.items())) for r in run.records}),
            "seconds": seconds, "suggest_seconds": seconds / max(1, run.fresh),
            "replaced_repeats": getattr(strategy, "n_replaced", None)}
    if problem.k <= 6:
        grid = grid_points(experts)
        values = [problem.true_value(w) for w in grid]
        best_grid = grid[int(np.argmax(values))]
        out["grid_best_true"] = max(values)
        out["tol"] = 0.5 * problem.objective_sem(best_grid)
    out["optimum_true"] = problem.optimum()[0]
    return out


def summarise(problems: list[dict[str, Any]], bo_names: list[str]) -> dict[str, Any]:
    """Per BO variant and K: win fractions vs CMA-ES and random, reach of the grid's best (K <= 6)."""
    out: dict[str, Any] = {}
    for bo in bo_names:
        per_k: dict[str, Any] = {}
        for k in sorted({p["k"] for p in problems}):
            ps = [p for p in problems if p["k"] == k]
            s = [p["strategies"] for p in ps]
            row = {
                "n": len(ps),
                "vs_cmaes": float(np.mean([x[bo]["returned_true"] >= x["cmaes"]["returned_true"] - 1e-12 for x in s])),
                "vs_random": float(np.mean([x[bo]["returned_true"] >= x["random"]["returned_true"] - 1e-12 for x in s])),
                "mean_gap_to_optimum": {n: float(np.mean([p["optimum_true"] - p["strategies"][n]["returned_true"]
                                                          for p in ps])) for n in [bo, "cmaes", "random"]},
                "mean_test": {n: float(np.mean([p["strategies"][n]["returned_test"] for p in ps]))
                              for n in [bo, "cmaes", "random"]},
                "bo_seconds_per_fresh_evaluation": float(np.mean([x[bo]["suggest_seconds"] for x in s])),
                "bo_distinct_fraction": float(np.mean([x[bo]["distinct_fresh"] / max(1, x[bo]["fresh"]) for x in s])),
            }
            if k <= 6:
                row["reach"] = float(np.mean([p["strategies"][bo]["best_true_seen"] >= p["grid_best_true"] - p["tol"]
                                              for p in ps]))
                row["reach_cmaes"] = float(np.mean([p["strategies"]["cmaes"]["best_true_seen"]
                                                    >= p["grid_best_true"] - p["tol"] for p in ps]))
                row["reach_random"] = float(np.mean([p["strategies"]["random"]["best_true_seen"]
                                                     >= p["grid_best_true"] - p["tol"] for p in ps]))
            per_k[str(k)] = row
        reach = [r["reach"] for k, r in per_k.items() if "reach" in r]
        out[bo] = {
            "per_k": per_k,
            "min_vs_cmaes": min(r["vs_cmaes"] for r in per_k.values()),
            "min_vs_random": min(r["vs_random"] for r in per_k.values()),
            "min_reach_k_le_6": min(reach) if reach else None,
        }
        out[bo]["goals_met"] = {
            "vs_cmaes": out[bo]["min_vs_cmaes"] >= GOALS["vs_cmaes"],
            "vs_random": out[bo]["min_vs_random"] >= GOALS["vs_random"],
            "reach_k_le_6": reach != [] and min(reach) >= GOALS["reach_k_le_6"]}
    return out


def search_suite_section(d: dict[str, Any]) -> str:
    """BENCHMARKS.md section of search_suite.json (for bench.report, as zoo_seeds_section)."""
    from bench.report import _met, _origin, _table

    s = d["summary"]
    parts = ["## 3b. Search on the synthetic suite (`search_suite.json`)", _origin(d), "",
             f"{d['method'].split(chr(10), 1)[1].strip()}", ""]
    for bo, res in s["results"].items():
        rows = [[k, r["n"], r["vs_cmaes"], r["vs_random"], r.get("reach"), r.get("reach_cmaes"), r.get("reach_random"),
                 r["mean_gap_to_optimum"][bo], r["mean_gap_to_optimum"]["cmaes"], r["mean_gap_to_optimum"]["random"],
                 r["mean_test"][bo], r["mean_test"]["cmaes"], r["mean_test"]["random"],
                 r["bo_distinct_fraction"], r["bo_seconds_per_fresh_evaluation"]] for k, r in res["per_k"].items()]
        parts += [f"**{bo}** (`{json.dumps(s['bo_variants'][bo])}`, {s['seeds']} seeds, {s['budget']} fresh "
                  "evaluations each; BO, CMA-ES and random all get the experts alone + uniform free)", "",
                  _table(["K", "problems", "BO >= CMA-ES", "BO >= random", "BO reach", "CMA-ES reach",
                          "random reach", "optimum - BO", "optimum - CMA-ES", "optimum - random", "test BO",
                          "test CMA-ES", "test random", "BO distinct", "BO s / evaluation"], rows), "",
                  f"Goals: BO >= CMA-ES on >= 70 % for every K (min {res['min_vs_cmaes']:.0%}): "
                  f"{_met(res['goals_met']['vs_cmaes'])}; BO >= random (min {res['min_vs_random']:.0%}): "
                  f"{_met(res['goals_met']['vs_random'])}; reach >= 95 % at K <= 6 (min "
                  + (f"{res['min_reach_k_le_6']:.0%}" if res["min_reach_k_le_6"] is not None else "-")
                  + f"): {_met(res['goals_met']['reach_k_le_6'])}.", ""]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--seeds", {"choices": ["report", "tune"], "default": "report", "help": "suite seed split"}),
        ("--ks", {"default": ",".join(map(str, KS)), "help": "comma-separated K values"}),
        ("--bo", {"action": "append", "default": None, "help": "BO variant name:key=value,... (repeatable)"}),
        ("--name", {"default": "search_suite", "help": "result file name (bench/results/<name>.json)"}),
        ("--per-k", {"type": int, "default": 6, "help": "settings per K: 6 (location x interference) or 3"}),
        ("--seeds-per-setting", {"type": int, "default": 1,
                                 "help": "problem seeds per setting, drawn in turn from the seed split"})])
    single_thread_torch()
    started = time.time()
    ks = (3,) if args.quick else tuple(int(k) for k in args.ks.split(","))
    variants = dict(parse_variant(v) for v in (args.bo or ["bo"]))
    seeds = TUNE_SEEDS if args.seeds == "tune" else REPORT_SEEDS
    settings = suite_settings(ks)[:2] if args.quick else suite_settings(ks, args.per_k)
    problems = []
    with LoadSampler() as load:
        n_seeds = min(args.seeds_per_setting, len(seeds))
        for i, setting in enumerate(settings):
            for r in range(n_seeds):
                seed = seeds[(i * n_seeds + r) % len(seeds)]
                problem = SuiteProblem(setting, seed)
                problems.append(run_problem(problem, variants, seed))
                console_log(f"suite {problem.name} ({len(problems)}/{len(settings) * n_seeds}): " + ", ".join(
                    f"{n} {s['returned_true']:.4f}" for n, s in problems[-1]["strategies"].items()))
    summary = summarise(problems, list(variants))
    rows = [[bo, k, r["n"], r["vs_cmaes"], r["vs_random"], r.get("reach"), r.get("reach_cmaes"), r.get("reach_random"),
             r["mean_gap_to_optimum"][bo], r["mean_gap_to_optimum"]["cmaes"], r["mean_gap_to_optimum"]["random"],
             r["bo_seconds_per_fresh_evaluation"]]
            for bo, s in summary.items() for k, r in s["per_k"].items()]
    print_table(f"suite at {BUDGET} fresh evaluations ({args.seeds} seeds)",
                ["bo", "K", "problems", "BO >= CMA-ES", "BO >= random", "BO reach", "CMA reach", "rand reach",
                 "gap BO", "gap CMA", "gap rand", "BO s/eval"], rows)
    payload = {"summary": {"bo_variants": variants, "seeds": args.seeds, "seeds_per_setting": n_seeds,
                           "budget": BUDGET, "goals": GOALS,
                           "results": summary, "bo_acqf": CHEAP_ACQF},
               "problems": problems, "method": __doc__}
    return write_result(args.name, payload, args.out, args.quick, started, load, module="bench.search_suite")


if __name__ == "__main__":
    main()
