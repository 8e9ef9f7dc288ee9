"""Zoo seeds: does the zoo's SoCE situation hold for other zoo seeds, not just the one the demo uses?

For each seed a zoo of `--kind` is built (`experts`: the small default, seed 0 is artifacts/zoo and the
others go to artifacts/zoo_seeds/seed<N>; `teams`: the realistic pool, artifacts/zoo_teams/seed<N>; an
existing current build is reused), then, with the HF reference backend (greedy, fp32, one thread):
- every candidate is scored item by item on dev and test; the best single candidate is the best on dev;
- SoCE steps 1-3 run on the candidates' dev scores as the run does (`soce_bo.analysis.analyze`, tau 0.5);
- the uniform soup of all candidates is scored on dev and test;
- the paper's grid over the selected experts (weights 0.1-0.9 in steps of 0.1, plus uniform) is scored
  on dev, and the best dev soup is scored on test;
- the test gaps (best dev soup - best single, uniform-all - best single) get scipy's paired
  permutation test and a stratified paired bootstrap interval (`soce_bo.analysis.paired`), so a
  gap is called significant only when it is.
The search is the paper's exhaustive grid, not BO: it asks whether the pool admits a soup that wins
on test after selection on dev, not how fast a strategy finds it (bench.search).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, LoadSampler, console_log, parse_args, print_table, single_thread_torch, write_result

SEEDS = (0, 1, 2)
GOAL_PP = 1.5


def result_name(kind: str) -> str:
    """The result file of a zoo kind: zoo_seeds.json for the default, zoo_seeds_<kind>.json otherwise."""
    return "zoo_seeds" if kind == "experts" else f"zoo_seeds_{kind}"


def zoo_for_seed(seed: int, kind: str, root: Path | None, quick: bool) -> Path:
    """The zoo of `kind` and `seed` (built if missing); --quick uses the existing artifacts/zoo only."""
    from soce_bo.zoo.build import ensure_zoo
    from soce_bo.zoo.config import zoo_config

    if quick:
        return REPO / "artifacts" / "zoo"
    if kind == "experts":
        out = REPO / "artifacts" / "zoo" if seed == 0 else (root or REPO / "artifacts" / "zoo_seeds") / f"seed{seed}"
    else:
        out = (root or REPO / "artifacts" / f"zoo_{kind}") / f"seed{seed}"
    return ensure_zoo(out, zoo_config(kind, seed))


class Scorer:
    """Per-item scores of checkpoints and soups on one zoo's splits (HF backend), cached by name."""

    def __init__(self, zoo: Path, limit: int | None) -> None:
        from soce_bo.zoo.benchmark import ZooBenchmark

        self.zoo = zoo
        self.bench = ZooBenchmark(zoo / "data")
        self.items = {s: self._limited(self.bench.load(s), limit) for s in ("dev", "test")}
        self.seconds = 0.0

    @staticmethod
    def _limited(items, limit):
        if limit is None:
            return items
        seen: dict[str, int] = {}
        kept = []
        for it in items:
            seen[it.category] = seen.get(it.category, 0) + 1
            if seen[it.category] <= limit:
                kept.append(it)
        return kept

    def score(self, dirs: list[Path], weights: list[float], split: str) -> tuple[float, list[float], dict[str, float]]:
        """(overall, per-item scores, per-category means) of one soup (a single folder: that checkpoint)."""
        from soce_bo.evaluate.hf_backend import HFBackend
        from soce_bo.evaluate.runner import evaluate_items
        from soce_bo.soup.mix import iter_soup
        from soce_bo.soup.validate import validate_pool

        t0 = time.perf_counter()
        if len(dirs) == 1:
            backend = HFBackend.from_pretrained(dirs[0])
        else:
            backend = HFBackend.from_state(dirs[0], iter_soup(validate_pool(dirs), weights))
        result = evaluate_items(self.bench, backend, self.items[split], show_progress=False)
        self.seconds += time.perf_counter() - t0
        return result.overall, result.item_scores, {c: s.accuracy for c, s in result.per_category.items()}

    def categories(self, split: str) -> list[str]:
        return [it.category for it in self.items[split]]


def soce_experts(cands: list[str], per_category: dict[str, dict[str, float]],
                 categories: list[str]) -> tuple[list[str], float]:
    """SoCE steps 1-3 on the candidates' dev scores with the run's default analysis (tau 0.5), and the tau used.

    When no category passes the tau test the run stops and asks for another tau; here every category's
    best model is taken instead (tau 1.0 admits every category), and the record says so.
    """
    from soce_bo.analysis.experts import analyze
    from soce_bo.analysis.scores import ScoreTable
    from soce_bo.errors import ConfigError

    table = ScoreTable(models=tuple(cands), categories=tuple(categories),
                       scores=np.array([[per_category[m][c] for c in categories] for m in cands]), source="dev")
    try:
        return analyze(table, mode="tau", tau=0.5).expert_names, 0.5
    except ConfigError as err:
        console_log(f"{err}: taking every category's best model (tau 1.0)")
        return analyze(table, mode="tau", tau=1.0).expert_names, 1.0


def assess(zoo: Path, limit: int | None, seed: int) -> dict[str, Any]:
    """The per-seed record: candidate scores, SoCE experts, reference soups, best dev soup, paired test gaps."""
    from soce_bo.analysis.paired import paired_comparison
    from soce_bo.search.grid import grid_points
    from soce_bo.zoo.manifest import load_manifest

    manifest = load_manifest(zoo)
    scorer = Scorer(zoo, limit)
    cands = manifest.candidates
    single: dict[str, dict[str, Any]] = {}
    for name, cand in cands.items():
        row = {}
        for split in ("dev", "test"):
            overall, items, per_category = scorer.score([cand.path], [1.0], split)
            row[split] = {"overall": overall, "items": items, "per_category": per_category}
        single[name] = row
    best = max(single, key=lambda n: single[n]["dev"]["overall"])
    dev_table = {n: single[n]["dev"]["per_category"] for n in cands}
    experts, tau = soce_experts(list(cands), dev_table, list(dict.fromkeys(scorer.categories("dev"))))

    def soup(names: list[str], weights: list[float], split: str) -> dict[str, Any]:
        overall, items, _ = scorer.score([cands[n].path for n in names], weights, split)
        return {"overall": overall, "items": items}

    uniform_all = {s: soup(list(cands), [1 / len(cands)] * len(cands), s) for s in ("dev", "test")}
    tried = grid_points(experts) if len(experts) > 1 else [{experts[0]: 1.0}]
    search = []
    for w in tried:
        search.append({"weights": dict(w), "dev": soup(experts, [w[e] for e in experts], "dev")["overall"]})
    pick = max(search, key=lambda r: r["dev"])
    pick_test = soup(experts, [pick["weights"][e] for e in experts], "test")
    cats = scorer.categories("test")
    vs_best = paired_comparison("best_dev_soup", best, pick_test["items"], single[best]["test"]["items"], cats)
    uni_vs_best = paired_comparison("uniform_all", best, uniform_all["test"]["items"],
                                    single[best]["test"]["items"], cats)
    return {
        "seed": seed,
        "zoo": str(zoo),
        "config_hash": manifest.config_hash,
        "build_total_s": manifest.raw.get("timings", {}).get("total_s"),
        "candidates": {n: {s: single[n][s]["overall"] for s in ("dev", "test")} for n in cands},
        "per_category_test": manifest.raw["scores"].get("test", {}) if limit is None else None,
        "best_single": best,
        "experts": experts,
        "tau": tau,
        "dev_per_category": dev_table,
        "uniform_all": {s: uniform_all[s]["overall"] for s in ("dev", "test")},
        "best_dev_soup": {"weights": pick["weights"], "dev": pick["dev"], "test": pick_test["overall"]},
        "search": search,
        "best_dev_soup_vs_best_single_test": vs_best.to_dict(),
        "uniform_all_vs_best_single_test": uni_vs_best.to_dict(),
        "soup_wins_by_goal": bool(vs_best.difference >= GOAL_PP / 100 and vs_best.significant),
        "uniform_all_below_best_single": bool(uni_vs_best.difference < 0),
        "geometry": manifest.raw.get("geometry"),
        "scoring_s": round(scorer.seconds, 1),
        "n_items": {s: len(scorer.items[s]) for s in ("dev", "test")},
    }


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(__doc__.splitlines()[0], argv, extra=[
        ("--seeds", {"default": ",".join(map(str, SEEDS)), "help": "comma-separated zoo seeds"}),
        ("--kind", {"default": "experts", "choices": ["experts", "teams"],
                    "help": "zoo kind (soce_bo.zoo.config.POOLS): the small default or the realistic teams pool"}),
        ("--zoo-root", {"type": Path, "default": None,
                        "help": "where the zoos are built (default artifacts/zoo_seeds or artifacts/zoo_<kind>)"})])
    single_thread_torch()
    import transformers

    transformers.utils.logging.disable_progress_bar()  # one "Loading weights" bar per soup would bury the table
    started = time.time()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    limit = 20 if args.quick else None
    records = []
    with LoadSampler() as load:
        for seed in seeds:
            zoo = zoo_for_seed(seed, args.kind, args.zoo_root, args.quick)
            console_log(f"zoo seed {seed}: {zoo}")
            records.append(assess(zoo, limit, seed))
    rows = [[r["seed"], r["best_single"], r["candidates"][r["best_single"]]["test"], r["uniform_all"]["test"],
             r["best_dev_soup"]["test"], r["best_dev_soup_vs_best_single_test"]["difference"] * 100,
             r["best_dev_soup_vs_best_single_test"]["p_value"], r["soup_wins_by_goal"],
             r["uniform_all_below_best_single"]] for r in records]
    print_table("zoo seeds (test)", ["seed", "best single", "its test", "uniform all", "best dev soup",
                                     "soup - best (pp)", "p", "goal met", "uniform below"], rows)
    summary = {
        "kind": "experts" if args.quick else args.kind,
        "seeds": seeds,
        "soup_wins_by_goal": [r["soup_wins_by_goal"] for r in records],
        "uniform_all_below_best_single": [r["uniform_all_below_best_single"] for r in records],
        "soup_minus_best_single_pp": [round(r["best_dev_soup_vs_best_single_test"]["difference"] * 100, 2)
                                      for r in records],
        "goal_met_on_at_least_2_of_3": sum(r["soup_wins_by_goal"] and r["uniform_all_below_best_single"]
                                           for r in records) >= 2,
    }
    return write_result(result_name(summary["kind"]), {"summary": summary, "records": records}, args.out, args.quick, started, load,
                        module="bench.zoo_seeds")


def zoo_seeds_section(d: dict) -> str:
    """BENCHMARKS.md section, rendered from zoo_seeds.json by bench.report."""
    from bench.report import _origin, _table

    rows = []
    for r in d["records"]:
        c = r["best_dev_soup_vs_best_single_test"]
        u = r["uniform_all_vs_best_single_test"]
        weights = ", ".join(f"{e} {w:.1f}" for e, w in r["best_dev_soup"]["weights"].items())
        rows.append([str(r["seed"]), r["best_single"], r["candidates"][r["best_single"]]["test"], weights,
                     r["best_dev_soup"]["test"], f"{100 * c['difference']:+.2f} [{100 * c['ci_low']:+.2f}, "
                     f"{100 * c['ci_high']:+.2f}], p={c['p_value']:.3g}", r["uniform_all"]["test"],
                     f"{100 * u['difference']:+.2f}, p={u['p_value']:.3g}",
                     "-" if r["build_total_s"] is None else f"{r['build_total_s']:.0f}"])
    s = d["summary"]
    kind = s.get("kind", "experts")
    name = result_name(kind)
    return "\n".join([
        f"## 6. Zoo seeds, `{kind}` zoo (`{name}.json`)", _origin(d), "",
        f"The `{kind}` zoo config per seed (`soce_bo.zoo.config.POOLS`); HF backend, greedy. Best single = best "
        "candidate on dev. Experts = SoCE's selection on dev (tau 0.5; every category's best where no category passes it). Best dev soup = the best of the paper's "
        "grid over the experts (0.1-0.9, plus uniform), chosen on dev only. Gaps on test in pp, 95 % stratified "
        "paired bootstrap interval, paired permutation p.", "",
        _table(["seed", "best single", "its test", "best dev soup", "its test", "soup - best (pp)",
                "uniform all test", "uniform - best (pp)", "build s"], rows), "",
        f"Soup beats the best single by >= {GOAL_PP} pp, significant: {s['soup_wins_by_goal']}; uniform soup of all "
        f"below the best single: {s['uniform_all_below_best_single']}.",
    ])


if __name__ == "__main__":
    main()
