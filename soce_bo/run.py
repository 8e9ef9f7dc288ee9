"""`python -m soce_bo.run +experiment=demo`: the whole SoCE method, one readable recipe.

pool -> validate -> evaluation server(s) -> candidates on the select split (dev) -> correlation
analysis + expert selection -> every search strategy (uniform, grid, greedy, random, cmaes, bo)
against the same servers -> the report split (test) for experts, uniform soups and each strategy's
best -> the best soup written as an HF checkpoint -> results.json + report.

Everything evaluated is appended to `run_dir/ledger.jsonl` first (fsync'd), so re-running with the
same `run_dir` resumes: completed trials are replayed, never evaluated again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from soce_bo.analysis import ScoreTable, analyze, load_score_table
from soce_bo.errors import ConfigError, exit_on_user_error
from soce_bo.evaluate.benchmark import Benchmark, Item, macro_mean, macro_sem
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.search import Ledger, SearchRun, TrialResult, run_search
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.simplex import uniform, vertex
from soce_bo.search.uniform import UniformSoup
from soce_bo.soup.validate import validate_pool

log = logging.getLogger("soce_bo.run")
console = Console(stderr=True, soft_wrap=True)


# ---- pool --------------------------------------------------------------------------------
def resolve_pool(pool_cfg: DictConfig) -> dict[str, Path]:
    """Candidate name -> checkpoint folder, from the zoo manifest or the configured paths."""
    if pool_cfg.kind == "zoo" and not pool_cfg.get("candidates"):
        from soce_bo.zoo.build import ensure_zoo

        zoo = ensure_zoo(Path(pool_cfg.zoo_dir))
        manifest = json.loads((zoo / "zoo.json").read_text())
        return {name: zoo / info["path"] for name, info in manifest["candidates"].items()}
    cands = pool_cfg.get("candidates") or {}
    if len(cands) < 2:
        raise ConfigError(f"pool.candidates needs at least 2 models, got {list(cands)}")
    out = {}
    for name, spec in cands.items():
        path = Path(spec if isinstance(spec, str) else spec["path"]).expanduser()
        if not path.exists():
            hub = "" if isinstance(spec, str) else f" (download {spec.get('hub_id')} there first)"
            raise ConfigError(f"pool candidate {name}: checkpoint folder {path} does not exist{hub}")
        out[str(name)] = path
    return out


def given_scores(pool_cfg: DictConfig) -> ScoreTable | None:
    """A score table from the pool config (inline mapping or CSV/JSON path), or None to measure."""
    scores = pool_cfg.get("scores")
    if scores is None:
        return None
    if isinstance(scores, str):
        return load_score_table(scores)
    return ScoreTable.from_mapping(OmegaConf.to_container(scores), source="pool.scores")


# ---- evaluation --------------------------------------------------------------------------
class SoupEvaluator:
    """One server replica scoring soups on fixed items: weights by candidate name -> TrialResult."""

    def __init__(self, client: Any, pool: Sequence[str], benchmark: Benchmark, items: Sequence[Item],
                 objective: str) -> None:
        self.client, self.pool, self.benchmark, self.items = client, list(pool), benchmark, list(items)
        self.objective = objective

    def __call__(self, weights: Mapping[str, float]) -> TrialResult:
        unknown = set(weights) - set(self.pool)
        if unknown:
            raise ConfigError(f"soup names models outside the pool: {sorted(unknown)}")
        t0 = time.perf_counter()
        self.client.apply([float(weights.get(name, 0.0)) for name in self.pool])
        res = evaluate_items(self.benchmark, self.client, self.items, show_progress=False)
        value = res.overall if self.objective == "overall" else macro_mean(res.per_category)
        return TrialResult(objective=value, sem=macro_sem(res.per_category), per_category=res.per_category,
                           seconds=time.perf_counter() - t0)


@contextlib.contextmanager
def soup_clients(cfg: DictConfig, paths: Sequence[Path]):
    """Clients for the run's servers: started here (cfg.servers.replicas) or given by URL."""
    from soce_bo.serve.client import SoupClient
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import start_servers

    server_cfg = ServerConfig.from_mapping(cfg.server)
    urls = list(cfg.servers.urls or [])
    if cfg.servers.url_dir:
        urls += [p.read_text().strip() for p in sorted(Path(cfg.servers.url_dir).glob("*.url"))]
        if not urls:
            raise ConfigError(f"servers.url_dir={cfg.servers.url_dir} holds no *.url files yet")
    with contextlib.ExitStack() as stack:
        if urls:
            clients = [stack.enter_context(SoupClient.from_config(u, server_cfg)) for u in urls]
        else:
            pool = stack.enter_context(start_servers(server_cfg, [str(p) for p in paths],
                                                     int(cfg.servers.replicas)))
            clients = [stack.enter_context(c) for c in pool.clients()]
        for c in clients:
            c.load_pool([str(p) for p in paths])
        yield clients


# ---- helpers for results -----------------------------------------------------------------
def curve(run: SearchRun) -> list[float]:
    """Best objective so far after each of the strategy's evaluations (cached ones included)."""
    best, out = -math.inf, []
    for r in sorted(run.records, key=lambda r: r.trial):
        if not r.result.failed:
            best = max(best, r.result.objective)
        out.append(best if math.isfinite(best) else float("nan"))
    return out


def table_entry(weights: Mapping[str, float], result: TrialResult) -> dict[str, Any]:
    return {"weights": {k: v for k, v in weights.items() if v > 0}, "objective": result.objective,
            "sem": result.sem, "per_category": {c: s.as_dict() for c, s in result.per_category.items()}}


def ternary_surrogate(strategy: Any, experts: Sequence[str], steps: int = 30) -> dict | None:
    """The BO surrogate's mean on a barycentric grid (K = 3 only), for the report's ternary map."""
    if len(experts) != 3 or not hasattr(strategy, "predict"):
        return None
    pts = [(i / steps, j / steps, (steps - i - j) / steps) for i in range(steps + 1) for j in range(steps + 1 - i)]
    try:
        pred = strategy.predict([dict(zip(experts, p)) for p in pts])
    except RuntimeError as err:  # no GP fit yet (e.g. everything replayed from the ledger)
        log.warning("no surrogate map: %s", err)
        return None
    return {"points": pts, "mean": [m for m, _ in pred], "sem": [s for _, s in pred]}


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float))
    tmp.replace(path)


# ---- the recipe --------------------------------------------------------------------------
def run(cfg: DictConfig) -> dict[str, Any]:
    t_start = time.time()
    run_dir = Path(cfg.run_dir).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    pool = resolve_pool(cfg.pool)
    names, paths = list(pool), list(pool.values())
    checkpoints = validate_pool(paths)
    console.print(f"[bold]pool[/bold]: {len(names)} candidates, {len(checkpoints[0].tensors)} tensors each: "
                  + ", ".join(names))
    if cfg.dry_run:
        console.print("[green]dry run: pool is consistent (configs, tensors, shapes, tokenizers)[/green]")
        return {"dry_run": True, "candidates": {n: str(p) for n, p in pool.items()}}

    benchmark: Benchmark = instantiate(cfg.benchmark)
    limit = cfg.limit
    select_items = _take(benchmark.load(cfg.splits.select), limit)
    report_items = _take(benchmark.load(cfg.splits.report), limit)
    ledger = Ledger(run_dir / "ledger.jsonl")
    report_ledger = Ledger(run_dir / f"ledger_{cfg.splits.report}.jsonl")
    objective = str(cfg.objective)
    if objective not in ("mean", "overall"):
        raise ConfigError(f"objective must be 'mean' or 'overall', got {objective!r}")

    with soup_clients(cfg, paths) as clients:
        select_eval = [SoupEvaluator(c, names, benchmark, select_items, objective) for c in clients]
        report_eval = [SoupEvaluator(c, names, benchmark, report_items, objective) for c in clients]
        search = lambda strategy: run_search(strategy, select_eval, ledger, state_dir=run_dir)  # noqa: E731

        # SoCE steps 1-2: candidate scores on the select split -> correlation -> experts.
        table = given_scores(cfg.pool)
        runs: dict[str, SearchRun] = {"expert": search(FixedPoints.vertices(names, name="expert"))}
        if table is None:
            table = ScoreTable.from_mapping(
                {max(r.weights, key=r.weights.get): dict(r.result.per_category) for r in runs["expert"].records},
                source=f"measured on {cfg.splits.select}")
        runs["uniform_all"] = search(UniformSoup(names, name="uniform_all"))
        analysis = analyze(table, mode=cfg.analysis.mode, tau=cfg.analysis.tau, linkage=cfg.analysis.linkage,
                           n_clusters=cfg.analysis.n_clusters, distance_threshold=cfg.analysis.distance_threshold,
                           candidates=names)
        experts = analysis.expert_names
        console.print(f"[bold]experts[/bold] ({analysis.mode}): "
                      + "; ".join(f"{e.model} ← {', '.join(e.categories)}" for e in analysis.experts))
        if len(experts) < 2:
            raise ConfigError(f"the analysis selected {len(experts)} expert(s) ({experts}): nothing to soup; "
                              f"raise analysis.tau (now {cfg.analysis.tau}) or use analysis.mode=cluster")

        # SoCE step 3: every configured strategy on the same servers, ledger and cache.
        strategies: dict[str, Any] = {}
        for key in cfg.search:
            strategies[key] = instantiate(cfg.search[key], experts=experts, seed=int(cfg.seed))
            runs[strategies[key].name] = search(strategies[key])

        # Headline numbers on the report split: nothing below was selected on it.
        best = {name: r.best() for name, r in runs.items() if name not in ("expert", "uniform_all")}
        best = {k: v for k, v in best.items() if v is not None}
        soups: dict[str, dict[str, float]] = {f"expert:{n}": vertex(names, n) for n in names}
        soups["uniform_all"] = uniform(names)
        soups["uniform_experts"] = uniform(experts)
        soups.update({f"best:{k}": dict(v.weights) for k, v in best.items() if k != "uniform"})
        report_run = run_search(FixedPoints(list(_distinct(soups.values())), name="report", experts=names),
                                report_eval, report_ledger, state_dir=run_dir)
        by_key = {_key(r.weights): r.result for r in report_run.records}
        bo_key = next((k for k, s in strategies.items() if hasattr(s, "predict")), None)
        surrogate = ternary_surrogate(strategies[bo_key], experts) if bo_key else None

    select_rows = {label: table_entry(soups[label], runs_result) for label, runs_result in
                   _select_results(runs, soups).items()}
    report_rows = {label: table_entry(w, by_key[_key(w)]) for label, w in soups.items() if _key(w) in by_key}
    results: dict[str, Any] = {
        "schema_version": 1,
        "run": {"experiment": cfg.get("experiment_name"), "seed": int(cfg.seed), "run_dir": str(run_dir),
                "wall_seconds": time.time() - t_start},
        "benchmark": {"name": benchmark.name, "categories": benchmark.categories(), "objective": objective,
                      "n_items": {cfg.splits.select: len(select_items), cfg.splits.report: len(report_items)}},
        "splits": dict(cfg.splits),
        "pool": {n: str(p) for n, p in pool.items()},
        "analysis": {**analysis.to_dict(), "tau": cfg.analysis.tau, "scores_source": table.source},
        "experts": experts,
        "trials": [r.to_dict() for name in runs for r in runs[name].records],
        "evaluations": {name: len(r.records) for name, r in runs.items()},
        "fresh_evaluations": sum(1 for r in ledger.records if not r.cached),
        "curves": {name: curve(r) for name, r in runs.items() if name not in ("expert", "uniform_all")},
        "reference_lines": _reference_lines(select_rows),
        "best": {k: {"weights": v.weights, "objective": v.result.objective, "trial": v.trial}
                 for k, v in best.items()},
        "tables": {cfg.splits.select: select_rows, cfg.splits.report: report_rows},
        "surrogate": surrogate,
    }
    results["final_soup"] = write_final_soup(cfg, run_dir, pool, best, results)
    _write_json(run_dir / "results.json", results)
    from soce_bo.report.report import build_report

    console.print(f"[bold green]report[/bold green]: {build_report(run_dir)}")
    return results


def write_final_soup(cfg: DictConfig, run_dir: Path, pool: Mapping[str, Path], best: Mapping[str, Any],
                     results: dict) -> dict | None:
    """Write the chosen soup (best dev objective, or the configured strategy's best) once."""
    if not cfg.final.write_soup or not best:
        return None
    from soce_bo.soup.write import write_soup

    choice = cfg.final.strategy
    if choice == "best":
        choice = max(best, key=lambda k: (best[k].result.objective, k == "bo"))
    if choice not in best:
        raise ConfigError(f"final.strategy={choice!r} did not run; ran: {sorted(best)}")
    weights = {n: w for n, w in best[choice].weights.items() if w > 0}
    out = run_dir / "best_soup"
    manifest = out / "soce_manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("weights") == list(weights.values()):
        console.print(f"best soup already written: {out}")
    else:
        write_soup([str(pool[n]) for n in weights], list(weights.values()), out, dtype=cfg.final.dtype,
                   overwrite=True, progress=False)
    return {"path": str(out), "strategy": choice, "weights": weights}


def _select_results(runs: Mapping[str, SearchRun], soups: Mapping[str, dict]) -> dict[str, TrialResult]:
    found = {_key(r.weights): r.result for run in runs.values() for r in run.records if not r.result.failed}
    return {label: found[_key(w)] for label, w in soups.items() if _key(w) in found}


def _reference_lines(rows: Mapping[str, dict]) -> dict[str, float]:
    experts = {k: v["objective"] for k, v in rows.items() if k.startswith("expert:")}
    out = {}
    if experts:
        out["best expert"] = max(experts.values())
    if "uniform_experts" in rows:
        out["uniform (experts)"] = rows["uniform_experts"]["objective"]
    return out


def _key(weights: Mapping[str, float]) -> tuple:
    from soce_bo.search.simplex import weights_key

    return weights_key(weights)


def _distinct(points) -> list[dict[str, float]]:
    seen, out = set(), []
    for p in points:
        if _key(p) not in seen:
            seen.add(_key(p))
            out.append(p)
    return out


def _take(items: list[Item], limit: int | None) -> list[Item]:
    from soce_bo.evaluate.__main__ import take

    return take(items, limit)


CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(config_path=CONF_DIR, config_name="run", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    warnings.filterwarnings("ignore", message=".*Pandas4Warning.*")
    warnings.filterwarnings("ignore", category=FutureWarning)
    for noisy in ("httpx", "ax", "botorch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = run(cfg)
    final = results.get("final_soup")
    return results["best"][final["strategy"]]["objective"] if final else None


if __name__ == "__main__":
    # Call the importable copy (soce_bo.run), not this __main__ one: submitit launchers pickle the
    # task function, and __main__ functions are pickled by value with their globals (rich Console).
    from soce_bo.run import main as _main

    _main()
