"""Racing: items generated per search run with and without multi-fidelity racing, at the same final score.

Each strategy runs twice on the same problem, racing off and on (conf/run.yaml `racing` defaults:
stages 0.1 / 0.3 / 1.0 of every category's items, alpha 0.05, indifference 0.0025 (0.25 pp), as recorded under
`settings`; CMA-ES declines racing and runs unraced), each arm with its own ledger
holding the same free points (the experts alone and their uniform soup, scored in full first, as
the candidates step of a run). Measured per run: items generated for the strategy's fresh
evaluations (a raced soup costs only the items it was scored on), and the held-out score of the
soup the strategy returns (`SearchRun.best()`: best complete evaluation). Goal (issue 13): >= 2x
fewer generated items per run at the same final held-out score (within 0.5 pp).

(a) zoo: the SoCE-selected experts of the tiny zoo ($SOCE_ZOO_DIR, else artifacts/zoo) through ONE
live vLLM server; dev = select split, the returned soup is scored on the test split. Strategies
grid, random, cmaes, bo (seed 0). The default zoo has 32 dev items per category, too few for any
stage below the full split to be significant; the committed run uses a zoo built with 200 dev /
500 test items per category (`python -m soce_bo.zoo out=/tmp/zoo200 n_dev=200 n_test=500`),
recorded under `zoo` in the result file.
(b) suite: `soce_bo.search.suite` problems (per-item latent outcomes, paired across soups), K = 3,
4, 6, optimum interior / on a face / near a vertex, 200 dev items per category, one REPORT seed;
the returned soup's held-out value is its true value (expected score over infinitely many items).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import LoadSampler, console_log, parse_args, print_table, single_thread_torch, write_result, zoo_dir
from bench.search import make_strategy, quiet, zoo_experts
from soce_bo.evaluate.racing import Incumbent, RacingEvaluator, RacingSettings, items_scored
from soce_bo.search import Ledger, run_search
from soce_bo.search.ledger import TrialRecord
from soce_bo.search.simplex import uniform, vertex, weights_key

STRATEGIES = ("grid", "random", "cmaes", "bo")
TOLERANCE = 0.005  # "the same final score": within 0.5 pp


def free_points(experts: Sequence[str], evaluator: Callable) -> list[TrialRecord]:
    """The experts alone and the uniform soup, scored in full (a run's candidates step)."""
    points = [vertex(experts, e) for e in experts] + [uniform(experts)]
    return [TrialRecord(strategy="candidates", trial=i, weights=w, result=evaluator(w), wall_seconds=0.0)
            for i, w in enumerate(points)]


def one_arm(name: str, experts: Sequence[str], seed: int, evaluator: Any, n_items: int, free: list[TrialRecord],
            racing: RacingSettings | None, ledger_path: Path, held_out: Callable[[Mapping[str, float]], float]
            ) -> dict[str, Any]:
    """One strategy run (racing on or off) on its own ledger; items generated and the returned soup's score.

    A strategy that declines raced results (`accepts_raced_results = False`, CMA-ES) runs unraced in
    the "on" arm too, as in a run."""
    arm_label = "on" if racing is not None else "off"
    ledger = Ledger(ledger_path)
    for record in free:
        ledger.append(record)
    strategy = make_strategy(name, list(experts), seed)
    if racing is not None and not getattr(strategy, "accepts_raced_results", True):
        racing = None  # as the run does: this strategy is never raced
    if racing is not None:
        incumbent = Incumbent()
        for record in free:
            incumbent.offer(record.result)
        evaluator = RacingEvaluator(evaluator, racing, incumbent)
    t0 = time.perf_counter()
    run = run_search(strategy, [evaluator], ledger, state_dir=ledger_path.parent, progress=False, free=free)
    fresh = [r for r in run.records if not r.cached]
    best = run.best()
    return {"strategy": name, "racing": racing is not None, "arm": arm_label, "fresh_evaluations": len(fresh),
            "stopped_early": sum(r.result.stopped_early for r in fresh),
            "items": sum(items_scored(r.result, n_items) for r in fresh),
            "best_weights": dict(best.weights) if best else None,
            "best_dev": best.result.objective if best else None,
            "held_out": held_out(best.weights) if best else None, "seconds": time.perf_counter() - t0}


def compare(arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair each strategy's off and on arms: item ratio and held-out difference."""
    rows = []
    by = {(a["problem"], a["strategy"], a["arm"]): a for a in arms}
    for (problem, name, arm_label), arm in by.items():
        if arm_label == "on":
            continue
        raced = by[(problem, name, "on")]
        rows.append({"problem": problem, "strategy": name, "items_off": arm["items"], "items_on": raced["items"],
                     "ratio": arm["items"] / max(1, raced["items"]),
                     "held_out_off": arm["held_out"], "held_out_on": raced["held_out"],
                     "held_out_diff": raced["held_out"] - arm["held_out"],
                     "same_score": abs(raced["held_out"] - arm["held_out"]) <= TOLERANCE,
                     "no_worse": raced["held_out"] - arm["held_out"] >= -TOLERANCE, "raced": raced["racing"],
                     "stopped_early": raced["stopped_early"], "fresh": raced["fresh_evaluations"]})
    return rows


def zoo_identity(zoo: Path) -> dict[str, Any]:
    """Which zoo the zoo arms ran on: folder, config hash, seed and split sizes (from zoo.json)."""
    import json

    from soce_bo.zoo.manifest import MANIFEST

    manifest = json.loads((zoo / MANIFEST).read_text())
    config = manifest.get("config", {})
    return {"path": str(zoo), "config_hash": manifest.get("config_hash"), "seed": manifest.get("seed"),
            "n_dev": config.get("n_dev"), "n_test": config.get("n_test")}


def zoo_arms(workdir: Path, seed: int = 0) -> list[dict[str, Any]]:
    from soce_bo.evaluate.soup_evaluator import ServedPool, SoupEvaluator
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.replica import LocalReplica
    from soce_bo.zoo.benchmark import ZooBenchmark

    quiet()
    zoo = zoo_dir()
    experts, candidates = zoo_experts(zoo)
    bench = ZooBenchmark(zoo / "data")
    dev, test = bench.load("dev"), bench.load("test")
    served = ServedPool(LocalReplica(candidates[experts[0]], ServerConfig(), 0, 1, log_dir=None))
    arms = []
    try:
        served.start()
        pool = {e: candidates[e] for e in experts}
        select = SoupEvaluator(served, pool, bench, dev, "mean")
        report = SoupEvaluator(served, pool, bench, test, "mean")
        for ev in (select, report):
            ev.set_experts(experts)
        console_log(f"racing zoo: experts {experts}, {len(dev)} dev / {len(test)} test items")
        held: dict[Any, float] = {}

        def held_out(weights: Mapping[str, float]) -> float:
            key = weights_key(weights)
            if key not in held:
                held[key] = report(dict(weights)).objective
            return held[key]

        free = free_points(experts, select)
        for name in STRATEGIES:
            for racing in (None, RacingSettings(enabled=True)):
                arm = one_arm(name, experts, seed, select, len(dev), free, racing,
                              workdir / f"zoo_{name}_{racing is not None}" / "ledger.jsonl", held_out)
                arms.append({"problem": "zoo", **arm})
                console_log(f"racing zoo {name} racing={'on' if racing else 'off'}: {arm['items']} items, "
                            f"{arm['stopped_early']} stopped early, held-out {arm['held_out']:.4f}")
    finally:
        served.stop()
    return arms


def suite_arms(workdir: Path, problems: Sequence[Any]) -> list[dict[str, Any]]:
    """Item-level synthetic problems (`soce_bo.search.synthetic`): the held-out value is the true value."""
    arms = []
    for label, problem in problems:
        free = free_points(problem.experts, problem)
        quiet()
        for name in STRATEGIES:
            for racing in (None, RacingSettings(enabled=True)):
                arm = one_arm(name, problem.experts, 0, problem, len(problem.item_categories), free, racing,
                              workdir / f"{label}_{name}_{racing is not None}" / "ledger.jsonl", problem.true_value)
                arms.append({"problem": label, **arm})
        console_log(f"racing suite {label} done")
    return arms


def suite_problems(quick: bool) -> list[tuple[str, Any]]:
    """(label, problem): K = 3, 4, 6, every optimum location, weak interference, 200 dev items per
    category, the first REPORT seed (quick: one problem)."""
    from soce_bo.search.suite import REPORT_SEEDS, SuiteProblem, settings

    cells = settings(ks=(3,) if quick else (3, 4, 6), items=(200,), locations=("interior",) if quick else
                     ("interior", "face", "vertex"), interference=("weak",))
    seeds = REPORT_SEEDS[:1]
    return [(f"suite:{cell.label} seed {seed}", SuiteProblem(cell, seed)) for cell in cells for seed in seeds]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per problem kind (zoo, suite): items off / on over all strategy runs, and score agreement."""
    out: dict[str, Any] = {}
    for kind in sorted({r["problem"].split(":")[0] for r in rows}):
        sub = [r for r in rows if r["problem"].split(":")[0] == kind]
        raced = [r for r in sub if r["raced"]]
        off, on = sum(r["items_off"] for r in sub), sum(r["items_on"] for r in sub)
        ratio = off / max(1, on)
        out[kind] = {"runs": len(sub), "items_off": off, "items_on": on, "ratio": ratio,
                     "ratio_raced": sum(r["items_off"] for r in raced) / max(1, sum(r["items_on"] for r in raced)),
                     "same_score_fraction": sum(r["same_score"] for r in sub) / len(sub),
                     "no_worse_fraction": sum(r["no_worse"] for r in sub) / len(sub),
                     "min_held_out_diff": min(r["held_out_diff"] for r in sub),
                     "goal_met": ratio >= 2.0 and all(r["no_worse"] for r in sub)}
    return out


def racing_section(d: dict[str, Any]) -> str:
    """BENCHMARKS.md section of racing*.json (for bench.report)."""
    from bench.report import _met, _origin, _table

    rows = [[r["problem"], r["strategy"], "yes" if r["raced"] else "no (declines)", r["fresh"], r["stopped_early"],
             r["items_off"], r["items_on"], r["ratio"], r["held_out_off"], r["held_out_on"],
             f"{100 * r['held_out_diff']:+.2f}"] for r in d["rows"]]
    parts = ["## 7. Racing (`" + d.get("name", "racing") + ".json`)", _origin(d), "",
             *([f"**Earlier settings:** this file was {d['renamed']}.", ""] if d.get("renamed") else []),
             __doc__.split("\n\n", 1)[1].strip(), "",
             f"Settings: stages {d['settings']['stages']}, alpha {d['settings']['alpha']}, indifference "
             f"{d['settings'].get('indifference', 0.0)} (objective units; 0: stop only soups significantly below "
             "the incumbent)."
             + (f" Zoo: {d['zoo']['n_dev']} dev / {d['zoo']['n_test']} test items per category, seed "
                f"{d['zoo']['seed']}, config hash `{d['zoo']['config_hash']}`." if d.get("zoo") else ""), "",
             _table(["problem", "strategy", "raced", "fresh evals", "stopped early", "items off", "items on",
                     "off / on", "held-out off", "held-out on", "on - off (pp)"], rows), ""]
    for kind, k in summarize(d["rows"]).items():
        parts.append(f"- **{kind}**: {k['runs']} strategy runs; items off / on over all of them = "
                     f"**{k['ratio']:.2f}x** (raced strategies only: {k['ratio_raced']:.2f}x); held-out score "
                     f"within 0.5 pp in {k['same_score_fraction']:.0%} of runs, no more than 0.5 pp worse in "
                     f"{k['no_worse_fraction']:.0%}, largest drop {100 * k['min_held_out_diff']:+.2f} pp. Goal (>= 2x "
                     f"at the same score): {_met(k['goal_met'])}.")
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--no-zoo", {"action": "store_true", "help": "skip part (a) (it starts a vLLM server)"}),
        ("--no-suite", {"action": "store_true", "help": "skip part (b)"}),
        ("--name", {"default": None, "help": "result file name (default: racing, racing_zoo or racing_suite); "
                                             "e.g. racing_zoo_teams_seed1 with SOCE_ZOO_DIR=artifacts/zoo_teams/seed1"})])
    single_thread_torch()
    started = time.time()
    with LoadSampler() as load, tempfile.TemporaryDirectory(prefix="soce_bench_racing_") as tmp:
        arms = [] if args.no_zoo else zoo_arms(Path(tmp))
        if not args.no_suite:
            arms += suite_arms(Path(tmp), suite_problems(args.quick))
    rows = compare(arms)
    print_table("racing: items generated per run, off vs on (same held-out score = within 0.5 pp)",
                ["problem", "strategy", "items off", "items on", "ratio", "held-out off", "held-out on", "same"],
                [[r["problem"], r["strategy"], r["items_off"], r["items_on"], r["ratio"], r["held_out_off"],
                  r["held_out_on"], r["same_score"]] for r in rows])
    summary = summarize(rows)
    name = args.name or ("racing_zoo" if args.no_suite else ("racing_suite" if args.no_zoo else "racing"))
    payload = {"summary": summary, "rows": rows, "arms": arms, "settings": RacingSettings(enabled=True).__dict__,
               "method": __doc__, "name": name}
    if not args.no_zoo:
        payload["zoo"] = zoo_identity(zoo_dir())
    return write_result(name, payload, args.out, args.quick, started, load, module="bench.racing")


if __name__ == "__main__":
    main()
