"""The SoCE method as one recipe with named steps (what `python -m soce_bo.run` runs).

    setup -> candidates -> analysis -> search -> report_split -> finalize

Every soup evaluated goes through the search scheduler into a ledger first (fsync'd), so
re-running with the same `run_dir` resumes: completed trials are replayed, never evaluated
again, and each ledger's identity header makes sure they are scores of the same experiment.
Everything in the config is checked in `setup`, before the first evaluation.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from soce_bo.analysis import Analysis, ScoreTable, analyze, load_score_table
from soce_bo.analysis.paired import paired_comparison
from soce_bo.analysis.shapley import plan_shapley, shapley_values
from soce_bo.errors import ConfigError
from soce_bo.evaluate.benchmark import Benchmark, Item
from soce_bo.evaluate.racing import Incumbent, RacingEvaluator, RacingSettings, items_scored
from soce_bo.evaluate.soup_evaluator import ServedPool, SoupEvaluator
from soce_bo.evaluate.subset import round_robin_subset
from soce_bo.recipe.build import build
from soce_bo.recipe.identity import ledger_header, pool_identity, relocate
from soce_bo.recipe.results import RunResults, SoupRow
from soce_bo.search import Ledger, SearchRun, TrialResult, run_search
from soce_bo.search.base import SupportsPredict
from soce_bo.search.fixed import FixedPoints
from soce_bo.search.ledger import LedgerMismatch
from soce_bo.search.simplex import uniform, vertex, weights_key
from soce_bo.search.uniform import UniformSoup
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.memory_plan import plan_memory
from soce_bo.serve.process import install_signal_handlers
from soce_bo.serve.replica import LocalReplica, Replica, UrlReplica
from soce_bo.soup.validate import validate_pool

log = logging.getLogger("soce_bo.run")
console = Console(stderr=True, soft_wrap=True)

FINAL_DTYPES = ("float32", "bfloat16", "float16")
RESUME_MODES = ("auto", "new")
# What a run leaves in run_dir; `resume=new` moves these aside (kept) before starting afresh.
STATE_GLOBS = ("ledger*.jsonl", "*.state.json", "results.json", "report.md", "report.html")


class SoceRecipe:
    """One SoCE run. `run()` calls the steps in order; each can be read on its own."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.searches: dict[str, SearchRun] = {}
        self.strategies: dict[str, Any] = {}

    # ---- the steps ------------------------------------------------------------------------
    def run(self) -> RunResults | None:
        t_start = time.time()
        self.setup()
        if self.cfg.dry_run:
            return None
        with self.servers():
            self.candidates()
            self.analysis()
            self.search()
            self.shapley()
            self.report_split()
        return self.finalize(time.time() - t_start)

    def setup(self) -> None:
        """Check the whole config, resolve and validate the pool, load items, open the ledgers."""
        cfg = self.cfg
        check_config(cfg)
        self.run_dir = Path(cfg.run_dir).expanduser().resolve()
        self.pool = resolve_pool(cfg.pool)
        self.names, self.paths = list(self.pool), list(self.pool.values())
        checkpoints = validate_pool(self.paths)
        console.print(f"[bold]pool[/bold]: {len(self.names)} candidates, {len(checkpoints[0].tensors)} tensors "
                      "each: " + ", ".join(self.names))
        self.server_cfg = ServerConfig.from_mapping(cfg.server)
        if starts_servers(cfg):  # servers started here or as jobs must fit, before any starts
            plan = plan_memory(self.server_cfg, self.paths[0], n_experts=len(self.names),
                               replicas=n_replicas(cfg))
            if cfg.dry_run:
                console.print(plan.table())
            plan.check()
        if cfg.dry_run:
            console.print("[green]dry run: pool is consistent (configs, tensors, shapes, tokenizers)[/green]")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
            return
        self.benchmark: Benchmark = build(cfg.benchmark, "benchmark")
        self.select_items = _items(self.benchmark, cfg.splits.select, cfg.limit)
        self.report_items = _items(self.benchmark, cfg.splits.report, cfg.limit)
        self.strategy_cfgs = selected_strategies(cfg)
        for key in set(cfg.search or {}) - set(self.strategy_cfgs):
            console.print(f"search.{key}: settings given, but the strategy is not selected (search=[...]); ignored")
        self.given_table = given_scores(cfg.pool)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ledgers = self._open_ledgers(pool_identity(self.names, checkpoints))
        (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    def candidates(self) -> None:
        """SoCE step 1: every candidate alone on the select split (and the uniform soup of all)."""
        self.searches["expert"] = self._search(FixedPoints.vertices(self.names, name="expert"))
        self.table = self.given_table or measured_table(self.searches["expert"], self.names, self.benchmark,
                                                        f"measured on {self.cfg.splits.select}")
        self.searches["uniform_all"] = self._search(UniformSoup(self.names, name="uniform_all"))

    def analysis(self) -> None:
        """SoCE step 2: correlate categories across candidates, pick one expert per group."""
        a = self.cfg.analysis
        self.result: Analysis = analyze(self.table, mode=a.mode, tau=a.tau, linkage=a.linkage,
                                        n_clusters=a.n_clusters, distance_threshold=a.distance_threshold,
                                        candidates=self.names)
        self.experts = self.result.expert_names
        console.print(f"[bold]experts[/bold] ({self.result.mode}): "
                      + "; ".join(f"{e.model} ← {', '.join(e.categories)}" for e in self.result.experts))
        if len(self.experts) < 2:
            raise ConfigError(f"the analysis selected {len(self.experts)} expert(s) ({self.experts}): nothing "
                              f"to soup; raise analysis.tau (now {a.tau}) or use analysis.mode=cluster")
        for evaluator in self.select_eval + self.report_eval:  # only these K become resident
            evaluator.set_experts(self.experts)

    def search(self) -> None:
        """SoCE step 3: every selected strategy on the same servers, ledger and cache."""
        self.racing = racing = RacingSettings.from_config(
            OmegaConf.to_container(self.cfg.racing) if "racing" in self.cfg else None)
        # the experts' uniform soup first, so every strategy gets the same free points (_free_points)
        self._search(UniformSoup(self.experts, name="uniform_experts"))
        for key, node in self.strategy_cfgs.items():
            strategy = build(node, f"search.{key}", experts=self.experts, seed=int(self.cfg.seed))
            self.strategies[strategy.name] = strategy
            raced = racing.enabled and getattr(strategy, "accepts_raced_results", True)
            evaluators = self._racing(racing, strategy.name) if raced else None
            self.searches[strategy.name] = self._search(strategy, evaluators, free=self._free_points())

    def shapley(self) -> None:
        """Post-hoc: each candidate's Shapley value, v(S) = dev score of the uniform soup of S."""
        self.shapley_result: dict[str, Any] | None = None
        if not self.cfg.analysis.shapley:
            return
        plan = plan_shapley(self.names, permutations=int(self.cfg.analysis.shapley_permutations),
                            seed=int(self.cfg.seed))
        soups = {c: uniform([n for n in self.names if n in c]) for c in plan.coalitions()}
        search = self._search(FixedPoints(list(soups.values()), name="shapley", experts=self.names))
        scores = {weights_key(r.weights): r.result.objective for r in search.records if not r.result.failed}
        missing = [sorted(c) for c, w in soups.items() if weights_key(w) not in scores]
        if missing:
            log.warning("no Shapley values: %d coalition soup(s) failed, e.g. %s", len(missing), missing[0])
            return
        values, sems = shapley_values(plan, {c: scores[weights_key(w)] for c, w in soups.items()})
        self.searches["shapley"] = search
        self.shapley_result = {"values": values, "sem": sems, "exact": plan.exact, "coalitions": len(soups),
                               "v_empty": 0.0, "split": str(self.cfg.splits.select)}
        console.print("[bold]Shapley[/bold] (" + ("exact" if plan.exact else "Monte-Carlo") + f", {len(soups)} "
                      "coalitions): " + ", ".join(f"{n} {v:.3f}" for n, v in values.items()))

    def report_split(self) -> None:
        """The headline numbers: experts, baselines and each strategy's best dev soup on the report split."""
        self.best = {name: self.searches[name].best() for name in self.strategies}
        self.best = {k: v for k, v in self.best.items() if v is not None}
        self.row_specs: list[tuple[str, str | None, dict[str, float]]] = [
            ("expert", n, vertex(self.names, n)) for n in self.names]
        self.row_specs += [("uniform_all", None, uniform(self.names)), ("uniform_experts", None, uniform(self.experts))]
        self.row_specs += [("best", k, dict(v.weights)) for k, v in self.best.items() if k != "uniform"]
        distinct: dict[Any, dict[str, float]] = {}
        for _, _, w in self.row_specs:  # the first of several dicts naming one soup is the one recorded
            distinct.setdefault(weights_key(w), w)
        points = list(distinct.values())
        on_report = run_search(FixedPoints(points, name="report", experts=self.names), self.report_eval,
                               self.ledgers[1], state_dir=self.run_dir)
        self.report_scores = {weights_key(r.weights): r.result for r in on_report.records if not r.result.failed}

    def finalize(self, wall_seconds: float) -> RunResults:
        """results.json and the final soup as an HF checkpoint (the CLI then builds the report)."""
        cfg = self.cfg
        select_scores = {weights_key(r.weights): r.result for search in self.searches.values() for r in search.records
                         if not r.result.failed}
        tables = {cfg.splits.select: self._rows(select_scores), cfg.splits.report: self._rows(self.report_scores)}
        predictor = next((s for s in self.strategies.values() if isinstance(s, SupportsPredict)), None)
        dev_candidates = [r for r in tables[cfg.splits.select] if r.kind == "expert"]
        best_candidate = max(dev_candidates, key=lambda r: r.objective).name if dev_candidates else None
        results = RunResults(
            run={"experiment": cfg.get("experiment_name"), "seed": int(cfg.seed), "run_dir": str(self.run_dir),
                 "wall_seconds": wall_seconds},
            benchmark={"name": self.benchmark.name, "categories": self.benchmark.categories(),
                       "objective": str(cfg.objective),
                       "n_items": {cfg.splits.select: len(self.select_items),
                                   cfg.splits.report: len(self.report_items)}},
            splits={"select": str(cfg.splits.select), "report": str(cfg.splits.report)},
            pool={n: str(p) for n, p in self.pool.items()},
            analysis={**self.result.to_dict(), "tau": cfg.analysis.tau, "scores_source": self.table.source},
            experts=list(self.experts),
            strategies=list(self.strategies),
            trials=[r.to_dict() for search in self.searches.values() for r in search.records],
            evaluations={name: len(r.records) for name, r in self.searches.items()},
            fresh_evaluations=sum(1 for r in self.ledgers[0].records if not r.cached),
            curves={name: best_so_far(self.searches[name]) for name in self.strategies},
            reference_lines=reference_lines(tables[cfg.splits.select]),
            # `strategy` + `trial` name the ledger line: a search's best may be free information
            # (an expert or the uniform soup, scored before the search), which another strategy numbered.
            best={k: {"weights": v.weights, "objective": v.result.objective, "strategy": v.strategy,
                      "trial": v.trial} for k, v in self.best.items()},
            tables=tables,
            surrogate=ternary_surrogate(predictor, self.experts) if predictor is not None else None,
            retries=sum(len(r.result.retries) for led in self.ledgers for r in led.records),
            published=published_reference(cfg.pool),
            best_candidate=best_candidate,
            shapley=self.shapley_result,
            cost={name: search_cost(search, len(self.select_items)) for name, search in self.searches.items()},
            racing=asdict(self.racing) if self.racing.enabled else None,
        )
        results.final_soup = self._write_final_soup()
        results.comparisons = self._comparisons(best_candidate, results.final_soup)
        results.write(self.run_dir / "results.json")
        return results

    # ---- servers and evaluators -------------------------------------------------------------
    @contextlib.contextmanager
    def servers(self) -> Iterator[None]:
        """Start (or reach) every replica with the pool loaded; stop them however the run ends."""
        install_signal_handlers()  # here, in the main thread: replicas start in worker threads
        replicas = make_replicas(self.cfg, self.server_cfg, self.paths, self.run_dir)
        served = [ServedPool(r, int(self.cfg.servers.max_restarts)) for r in replicas]
        try:
            with ThreadPoolExecutor(max_workers=len(served)) as pool:
                for fut in [pool.submit(s.start) for s in served]:
                    fut.result()
            self.select_eval = [SoupEvaluator(s, self.pool, self.benchmark, self.select_items, self.cfg.objective)
                                for s in served]
            self.report_eval = [SoupEvaluator(s, self.pool, self.benchmark, self.report_items, self.cfg.objective)
                                for s in served]
            yield
        finally:
            for s in served:
                s.stop()

    def _racing(self, settings: RacingSettings, strategy: str) -> list[RacingEvaluator]:
        """Racing evaluators for one strategy: its own incumbent, from the candidates, the uniform soup and
        (on resume) the strategy's trials already in the ledger, so a resumed run races as the first did."""
        incumbent = Incumbent()
        for name in ("expert", "uniform_all"):
            for record in self.searches[name].records:
                incumbent.offer(record.result)
        for record in self.ledgers[0].for_strategy(strategy):
            incumbent.offer(record.result)
        return [RacingEvaluator(e, settings, incumbent) for e in self.select_eval]

    def _search(self, strategy: Any, evaluators: Sequence[Any] | None = None,
                free: Sequence[Any] = ()) -> SearchRun:
        return run_search(strategy, evaluators or self.select_eval, self.ledgers[0], state_dir=self.run_dir,
                          free=free)

    def _free_points(self) -> list[Any]:
        """What every strategy gets for free: each expert alone and the experts' uniform soup, if scored."""
        wanted = {weights_key(vertex(self.experts, e)) for e in self.experts} | {weights_key(uniform(self.experts))}
        free: dict[Any, Any] = {}
        for record in self.ledgers[0].records:  # the first complete record of each such soup
            key = weights_key(record.weights)
            if key in wanted and key not in free and record.result.complete:
                free[key] = record
        return list(free.values())

    # ---- helpers ------------------------------------------------------------------------------
    def _open_ledgers(self, pool_id: dict[str, Any]) -> tuple[Ledger, Ledger]:
        """The select and report ledgers, refusing scores from another experiment (or moving them aside)."""
        cfg = self.cfg
        bench_cfg = OmegaConf.to_container(cfg.benchmark, resolve=True)

        def header(split: str, items: Sequence[Item]) -> dict[str, Any]:
            return ledger_header(pool=pool_id, benchmark=bench_cfg, split=split, items=items, limit=cfg.limit,
                                 objective=str(cfg.objective), server=self.server_cfg)

        paths = (self.run_dir / "ledger.jsonl", self.run_dir / f"ledger_{cfg.splits.report}.jsonl")
        headers = (header(cfg.splits.select, self.select_items), header(cfg.splits.report, self.report_items))
        if cfg.resume == "new":
            old = sorted({p for g in STATE_GLOBS for p in self.run_dir.glob(g)})
            if old:
                into = self.run_dir / f"previous-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
                relocate(old, into)
                console.print(f"resume=new: the previous run's state was moved to {into}")
        try:
            return Ledger(paths[0], headers[0]), Ledger(paths[1], headers[1])
        except LedgerMismatch as err:
            raise ConfigError(
                f"run_dir {self.run_dir} holds scores of another experiment: {', '.join(err.changed)} changed "
                f"since {err.path.name} was written; resume=new starts a fresh ledger there (the old state is "
                "kept in previous-<time>/), or pass another run_dir") from None

    def _comparisons(self, best_candidate: str | None, final: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """Paired tests on the report split: each strategy's best (and the final soup) against the
        candidate that was best on dev, and BO against the grid. Selection never looks at these."""
        if best_candidate is None:
            return []
        cats = [it.category for it in self.report_items]
        soups = {f"best of {k}": dict(v.weights) for k, v in self.best.items() if k != "uniform"}
        if final is not None:
            soups["final soup"] = dict(final["weights"])
        reference = vertex(self.names, best_candidate)
        pairs = [(name, w, best_candidate, reference) for name, w in soups.items()]
        if "bo" in self.best and "grid" in self.best:
            pairs.append(("best of bo", dict(self.best["bo"].weights), "best of grid", dict(self.best["grid"].weights)))
        out = []
        for a_name, a_w, b_name, b_w in pairs:
            a, b = self.report_scores.get(weights_key(a_w)), self.report_scores.get(weights_key(b_w))
            if a is None or b is None or not a.item_scores or len(a.item_scores) != len(b.item_scores):
                continue
            out.append(paired_comparison(a_name, b_name, a.item_scores, b.item_scores, cats,
                                         seed=int(self.cfg.seed)).to_dict())
        return out

    def _rows(self, scores: Mapping[Any, TrialResult]) -> list[SoupRow]:
        rows = []
        for kind, name, weights in self.row_specs:
            res = scores.get(weights_key(weights))
            if res is not None:
                rows.append(SoupRow(kind=kind, name=name, weights={k: v for k, v in weights.items() if v > 0},
                                    objective=res.objective, sem=res.sem,
                                    per_category={c: s.as_dict() for c, s in res.per_category.items()}))
        return rows

    def _write_final_soup(self) -> dict[str, Any] | None:
        """Write the chosen soup once: the best dev objective (ties: first in `search` order)."""
        cfg = self.cfg
        if not cfg.final.write_soup or not self.best:
            return None
        from soce_bo.soup.write import write_soup

        choice = cfg.final.strategy
        if choice == "best":
            choice = max(self.best, key=lambda k: self.best[k].result.objective)  # max keeps the first of ties
        if choice not in self.best:
            raise ConfigError(f"final.strategy={choice!r} has no successful trial; ran: {sorted(self.best)}")
        weights = {n: w for n, w in self.best[choice].weights.items() if w > 0}
        out = self.run_dir / "best_soup"
        manifest = out / "soce_manifest.json"
        import json

        if manifest.exists() and json.loads(manifest.read_text()).get("weights") == list(weights.values()):
            console.print(f"best soup already written: {out}")
        else:
            write_soup([str(self.pool[n]) for n in weights], list(weights.values()), out, dtype=cfg.final.dtype,
                       overwrite=True, progress=False)
        return {"path": str(out), "strategy": choice, "weights": weights}


# ---- config checks (before anything runs) -------------------------------------------------------
def check_config(cfg: DictConfig) -> None:
    """Every setting that can be checked without I/O, so a typo fails now and not after the search."""
    if cfg.objective not in ("mean", "overall"):
        raise ConfigError(f"objective must be 'mean' or 'overall', got {cfg.objective!r}")
    sel, rep = cfg.splits.select, cfg.splits.report
    if not sel or not rep:
        raise ConfigError(f"splits.select and splits.report must both be named, got {sel!r} and {rep!r}")
    if sel == rep:
        raise ConfigError(f"splits.select and splits.report are both {sel!r}: the report split must be one "
                          "nothing was selected on")
    if cfg.limit is not None and (not isinstance(cfg.limit, int) or isinstance(cfg.limit, bool) or cfg.limit < 1):
        raise ConfigError(f"limit must be an integer >= 1 or null, got {cfg.limit!r}")
    if cfg.final.dtype not in FINAL_DTYPES:
        raise ConfigError(f"final.dtype must be one of {', '.join(FINAL_DTYPES)}, got {cfg.final.dtype!r}")
    if cfg.resume not in RESUME_MODES:
        raise ConfigError(f"resume must be one of {', '.join(RESUME_MODES)}, got {cfg.resume!r}")
    a = cfg.analysis
    if a.mode not in ("tau", "cluster"):
        raise ConfigError(f"analysis.mode must be 'tau' or 'cluster', got {a.mode!r}")
    if not isinstance(a.tau, (int, float)) or not 0.0 < float(a.tau) <= 1.0:
        raise ConfigError(f"analysis.tau must be in (0, 1], got {a.tau!r}")
    if not isinstance(a.shapley_permutations, int) or a.shapley_permutations < 2:
        raise ConfigError(f"analysis.shapley_permutations must be an integer >= 2, got {a.shapley_permutations!r}")
    s = cfg.servers
    if not isinstance(s.replicas, int) or s.replicas < 1:
        raise ConfigError(f"servers.replicas must be an integer >= 1, got {s.replicas!r}")
    if not isinstance(s.max_restarts, int) or s.max_restarts < 0:
        raise ConfigError(f"servers.max_restarts must be an integer >= 0, got {s.max_restarts!r}")
    if not isinstance(cfg.seed, int):
        raise ConfigError(f"seed must be an integer, got {cfg.seed!r}")
    racing = cfg.get("racing")
    RacingSettings.from_config(OmegaConf.to_container(racing) if isinstance(racing, DictConfig) else racing)
    chosen = selected_strategies(cfg)
    if not chosen:
        raise ConfigError("no search strategy selected: search=[...] must name at least one of conf/search/")
    if cfg.final.strategy != "best" and cfg.final.strategy not in chosen:
        raise ConfigError(f"final.strategy={cfg.final.strategy!r} is not among the selected strategies "
                          f"({', '.join(chosen)}) nor 'best'")
    for key, node in chosen.items():
        # Two stand-in experts (the smallest K) catch unknown keys and bad values now; checks that
        # depend on the real number of experts run when the search starts.
        build(node, f"search.{key}", experts=["expert_0", "expert_1"], seed=int(cfg.seed))


def selected_strategies(cfg: DictConfig) -> dict[str, DictConfig]:
    """The strategies `search=[...]` chose, in that order.

    Settings an experiment gives for a strategy that was not selected (e.g. demo.yaml's budgets
    under `search=[bo]`) have no `_target_`: they are ignored, with a note in the log.
    """
    out: dict[str, DictConfig] = {}
    for key, node in (cfg.search or {}).items():
        if isinstance(node, DictConfig) and "_target_" in node:
            out[str(key)] = node
    return out


# ---- pool ----------------------------------------------------------------------------------------
def resolve_pool(pool_cfg: DictConfig) -> dict[str, Path]:
    """Candidate name -> checkpoint folder, from the zoo manifest or the configured paths."""
    if pool_cfg.kind == "zoo" and not pool_cfg.get("candidates"):
        import json

        from soce_bo.zoo.build import ensure_zoo
        from soce_bo.zoo.config import zoo_config

        config = zoo_config(pool_cfg.get("zoo_kind", "experts"), pool_cfg.get("zoo_seed", 0), label="pool.zoo_")
        zoo = ensure_zoo(Path(pool_cfg.zoo_dir), config)
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


def measured_table(candidates: SearchRun, names: Sequence[str], benchmark: Benchmark, source: str) -> ScoreTable:
    """The candidates' scores from their own trials, in config order and the benchmark's category order.

    Both orders are fixed here because they decide the experts' order, which every strategy's
    suggestions follow: a score replayed from the ledger (categories sorted) must give the same
    table as a fresh one.
    """
    by_model = {max(r.weights, key=r.weights.get): r.result.per_category for r in candidates.records
                if not r.result.failed}
    missing = [n for n in names if n not in by_model]
    if missing:
        raise ConfigError(f"no successful score for candidate(s) {missing} on the select split; see the ledger")
    order = list(benchmark.categories())

    def rank(cat: str) -> tuple[int, str]:
        return (order.index(cat), "") if cat in order else (len(order), cat)

    return ScoreTable.from_mapping({n: {c: by_model[n][c] for c in sorted(by_model[n], key=rank)} for n in names},
                                   source=source)


def starts_servers(cfg: DictConfig) -> bool:
    """True when this run starts its servers (here or as SLURM jobs), so their memory is ours to plan."""
    s = cfg.servers
    return bool(s.get("slurm")) or not (s.urls or s.url_dir or cfg.server.get("url"))


def n_replicas(cfg: DictConfig) -> int:
    slurm = cfg.servers.get("slurm")
    return int(slurm.get("replicas", 1)) if slurm else int(cfg.servers.replicas)


def make_replicas(cfg: DictConfig, server_cfg: ServerConfig, paths: Sequence[Path], run_dir: Path) -> list[Replica]:
    """The run's servers: SLURM jobs (servers.slurm), running ones (URLs), or child processes here."""
    s = cfg.servers
    if s.get("slurm"):
        from soce_bo.serve.slurm import slurm_replicas

        return list(slurm_replicas(s.slurm, server_cfg, [str(p) for p in paths], run_dir))
    urls = list(s.urls or []) + ([server_cfg.url] if server_cfg.url else [])
    if s.url_dir:
        found = sorted(Path(s.url_dir).glob("*.url"))
        if not found and not urls:
            raise ConfigError(f"servers.url_dir={s.url_dir} holds no *.url files yet")
        urls += [p.read_text().strip() for p in found]
    if urls:
        return [UrlReplica(u, server_cfg, float(s.reconnect_timeout_s)) for u in urls]
    log_dir = server_cfg.log_dir or str(run_dir / "server_logs")
    return [LocalReplica(paths[0], server_cfg, i, int(s.replicas), log_dir) for i in range(int(s.replicas))]


# ---- results helpers -------------------------------------------------------------------------------
def published_reference(pool_cfg: DictConfig) -> dict[str, Any] | None:
    """The paper's numbers a pool config carries (`published_overall`, `paper_soce`) for the report."""
    out = {k: OmegaConf.to_container(pool_cfg[k], resolve=True) for k in ("published_overall", "paper_soce")
           if pool_cfg.get(k) is not None}
    return out or None


def search_cost(search: SearchRun, n_items: int) -> dict[str, int]:
    """What a search spent: trials, fresh evaluations, items generated, soups raced out early."""
    fresh = [r for r in search.records if not r.cached]
    return {"trials": len(search.records), "fresh": len(fresh),
            "items": sum(items_scored(r.result, n_items) for r in fresh),
            "stopped_early": sum(r.result.stopped_early for r in fresh)}


def best_so_far(search: SearchRun) -> list[float]:
    """Best objective so far after each of the strategy's evaluations (cached ones included)."""
    best, out = -math.inf, []
    for r in sorted(search.records, key=lambda r: r.trial):
        if not r.result.failed:
            best = max(best, r.result.objective)
        out.append(best if math.isfinite(best) else float("nan"))
    return out


def reference_lines(rows: Sequence[SoupRow]) -> dict[str, float]:
    experts = [r.objective for r in rows if r.kind == "expert"]
    out = {}
    if experts:
        out["best single candidate"] = max(experts)
    out.update({r.label: r.objective for r in rows if r.kind == "uniform_experts"})
    return out


def ternary_surrogate(strategy: SupportsPredict, experts: Sequence[str], steps: int = 30) -> dict | None:
    """The surrogate's mean on a barycentric grid (K = 3 only), for the report's ternary map."""
    if len(experts) != 3:
        return None
    pts = [(i / steps, j / steps, (steps - i - j) / steps) for i in range(steps + 1) for j in range(steps + 1 - i)]
    try:
        pred = strategy.predict([dict(zip(experts, p)) for p in pts])
    except RuntimeError as err:  # no model fit yet (e.g. everything replayed from the ledger)
        log.warning("no surrogate map: %s", err)
        return None
    return {"points": pts, "mean": [m for m, _ in pred], "sem": [s for _, s in pred]}


def _items(benchmark: Benchmark, split: str, limit: int | None) -> list[Item]:
    items = round_robin_subset(benchmark.load(split), limit)
    if not items:
        raise ConfigError(f"split {split!r} of benchmark {benchmark.name} has no items")
    return items
