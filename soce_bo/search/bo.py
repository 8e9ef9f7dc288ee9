"""Bayesian optimisation of soup weights with the Ax `Client` (Ax 1.3.1) on the simplex.

Encoding (option A of the two we tried): K-1 free weights w0..w{K-2} in [m, 1 - (K-1)m], the last
one a `DerivedParameterConfig` "1 - w0 - ... - w{K-2}", and the linear constraint
sum(free) <= 1 - m, so every weight is >= m = `min_weight` (0.1 here, like the grid; the run's
conf/search/bo.yaml sets 0, the whole simplex).
Chosen over option B (equality constraint via core classes) because it is built with the public
Client API (only attaching a soup outside the box needs two core calls), survives JSON
snapshots, and a BO step takes ~2-3 s instead of SLSQP's tens of seconds; the price is that
the GP sees K-1 inputs (the last expert is implicit). The derived weight can come back as
-1e-9, so every suggestion is clipped and renormalised and those weights -- the ones actually
merged and recorded -- are what we attach and match results to.

Prior information and seeds: soups evaluated before BO starts (`prior`: in a run the candidates
alone = simplex vertices, and the uniform soup) are attached to Ax with their scores and cost no
budget. Any of the K vertices + uniform not given that way is suggested first as a seed (a fresh
evaluation). With m > 0 the vertices lie outside the search box; Ax's adapter expands its model
space to cover them, so they still train the GP, while candidates come from the box. Ax then
generates straight from the GP (`sobol_trials` extra quasi-random points first, 0 by default).
`budget` counts fresh evaluations: `run_search` enforces it; BO also stops after `budget` trials
of its own (prior soups excluded) for hand-driven ask/tell. A trial of BO's that another strategy
had already evaluated (e.g. a corner of the min_weight box that is also a grid point) is a free
cache hit: `run_search` reports it through `observe_cache_hit`, so it does not count, and BO
still spends `budget` fresh evaluations.

No repeats: a generated soup within `min_distance` (max-norm) of a soup BO already has (observed,
prior or pending) is marked ABANDONED in Ax -- Ax then treats it as pending, so the next draw moves
away -- and generation is retried; after 3 tries a seeded random point of the box is used.

Model (`model`): "scalar" fits one GP to the objective; "per_category" fits one GP per category
metric (cat_<name>) and maximises their linear combination (an Ax scalarised objective: the
macro mean 1/C each, or the micro mean n_c/N, detected from the first result), so the surrogate
learns which expert drives which category, and the candidates' per-category scores inform it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ax import Client, RangeParameterConfig
from ax.api.configs import DerivedParameterConfig
from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.exceptions.core import DataRequiredError, SearchSpaceExhausted, UnsupportedError

from soce_bo.atomic import atomic_file
from soce_bo.errors import ConfigError
from soce_bo.values import TrialResult, Weights
from soce_bo.search.simplex import WeightsKey, check_budget, check_experts, to_simplex, uniform, vertex, weights_key

log = logging.getLogger(__name__)
OBJECTIVE = "objective"
ACQF_KEYS = ("raw_samples", "num_restarts", "n_burnin", "n_thinning", "maxiter", "batch_limit")
OPTIMIZER_KEYS = ("raw_samples", "num_restarts")  # optimize_acqf arguments; the rest go in its `options`
MODELS = ("scalar", "per_category")
# Named acquisition-optimiser efforts (`acqf: <name>`), measured in bench/bo_overhead.py and, for
# quality, on the suite's TUNE seeds (bench/results/search_suite_tune_*.json). "swift" (SLSQP capped at
# 60 iterations) is the default: no worse than "lean" on TUNE, and under 1 s per suggestion at K = 8.
ACQF_PRESETS: dict[str, dict[str, int]] = {
    "cheap": {"raw_samples": 256, "num_restarts": 8, "n_burnin": 500, "n_thinning": 4},
    "lean": {"raw_samples": 128, "num_restarts": 4, "n_burnin": 200, "n_thinning": 2},
    "swift": {"raw_samples": 96, "num_restarts": 3, "n_burnin": 150, "n_thinning": 2, "maxiter": 60},
}
GEN_TRIES = 3  # Ax generations per suggestion before a random point replaces a repeat


def as_snapshot_keeps(values: Sequence[float]) -> list[float]:
    """The values as Ax's JSON snapshot gives them back: it stores its data frame with pandas
    `to_json` (10 decimals) and reads it with pandas' own float parser. BO tells Ax its data in this
    form, so a run restored from its snapshot fits the GP to bit-identical data: a difference of
    5e-11 in one SEM was enough to change the fifth soup after a resume by 0.40 in weight."""
    frame = pd.DataFrame({"v": [float(v) for v in values]})
    return [float(v) for v in pd.read_json(StringIO(frame.to_json()), dtype=False)["v"]]


@dataclass(frozen=True)
class BestPoint:
    """Best in-sample soup, ranked by the surrogate mean (Ax falls back to raw data on a poor fit)."""

    weights: Weights
    objective: float
    sem: float
    trial_index: int


def category_metric(category: str) -> str:
    """Ax metric name for a category's accuracy (constraint strings need identifier-like names)."""
    return "cat_" + re.sub(r"\W", "_", category)


def quiet_ax(level: int = logging.WARNING) -> None:
    """Ax sets INFO on each of its module loggers; one line per trial drowns the progress bar."""
    for name in list(logging.root.manager.loggerDict):
        if name == "ax" or name.startswith("ax."):
            logging.getLogger(name).setLevel(level)


class BayesOpt:
    """Ax/BoTorch BO (GP + qLogNoisyExpectedImprovement) over K expert weights.

    Args:
        experts: model names; weight i of a suggestion belongs to experts[i].
        budget: fresh evaluations (run_search enforces it; prior soups are free, seeds are not).
        seed: Ax random seed (same seed and data -> same candidates on CPU).
        sobol_trials: quasi-random points after the seeds before the GP takes over (0 for >= 8
            experts: Ax 1.3.1's polytope sampler gets stuck at a seeded vertex there).
        floors: {category: minimum accuracy} -> outcome constraints on per-category metrics.
        noise: "binomial" passes (mean, SEM) to Ax (fixed-noise GP); "inferred" lets the GP fit it.
        method: Ax generation method, "fast" (BO) or "random_search" (Sobol; cheap tests).
        torch_threads: torch intra-op threads; 1 is ~2x faster and stable on small CPUs.
        min_weight: every expert keeps at least this weight in BO's own suggestions (the seeds
            stay the experts alone). 0.1 = the domain of the paper's grid; 0 = the whole simplex,
            the run's default (conf/search/bo.yaml): with the experts alone and the uniform soup
            as free prior data it got 4x closer to the optimum on the suite's TUNE seeds, where
            optima also lie on faces and near vertices (bench/results/search_suite_tune_*.json).
            Must be < 1/K.
        acqf: acquisition optimiser effort: a preset name of ACQF_PRESETS ("swift", "lean", "cheap") or a
            mapping with keys raw_samples, num_restarts (optimize_acqf), n_burnin, n_thinning
            (hit-and-run sampler of the initial conditions under the sum <= 1 constraint),
            maxiter, batch_limit (SLSQP); None = Ax defaults 1024 / 20 / 10000 / 32, ~3 s per
            suggestion on one core. The SLSQP restarts (qLogNEI forward/backward passes) and the
            polytope sampler dominate a suggestion, so fewer restarts and shorter chains are the
            levers (bench/bo_overhead.py).
        model: "scalar" (one GP on the objective) or "per_category" (one GP per category,
            objective = their mean; see the module docstring).
        min_distance: a suggestion closer than this (max |w_i - w'_i|) to a known soup is a repeat.
    """

    def __init__(self, experts: Sequence[str], budget: int = 20, seed: int = 0, name: str = "bo",
                 sobol_trials: int = 0, floors: Mapping[str, float] | None = None, noise: str = "binomial",
                 method: str = "fast", torch_threads: int = 1, acqf: Mapping[str, int] | str | None = None,
                 min_weight: float = 0.1, model: str = "scalar", min_distance: float = 1e-3) -> None:
        self.name = name
        self.experts = check_experts(experts, name)
        k = len(self.experts)
        if k < 2:
            raise ConfigError(f"search.{name}: Bayesian optimisation needs at least 2 experts, got {self.experts}")
        check_budget(budget, name)
        if model not in MODELS:
            raise ConfigError(f"search.{name}.model must be one of {MODELS}, got {model!r}")
        if model == "per_category" and floors:
            raise ConfigError(f"search.{name}: floors need model: scalar (per-category metrics are the objective)")
        if not 0.0 <= min_distance < 0.5:
            raise ConfigError(f"search.{name}.min_distance must be in [0, 0.5), got {min_distance}")
        self.model, self.min_distance = model, float(min_distance)
        if noise not in ("binomial", "inferred"):
            raise ConfigError(f"search.{name}.noise must be 'binomial' or 'inferred', got {noise!r}")
        if sobol_trials < 0 or (k >= 8 and sobol_trials > 0):
            raise ConfigError(f"search.{name}.sobol_trials must be >= 0, and 0 for 8+ experts, got {sobol_trials}")
        if not (0.0 <= min_weight < 1.0 / k):
            raise ConfigError(f"search.{name}.min_weight must be in [0, 1/K) = [0, {1.0 / k:.4g}) for {k} experts "
                              f"(every expert gets at least min_weight), got {min_weight}")
        self.min_weight = float(min_weight)
        self.floors = {str(c): float(v) for c, v in (floors or {}).items()}
        if isinstance(acqf, str):
            if acqf not in ACQF_PRESETS:
                raise ConfigError(f"search.{name}.acqf: unknown preset {acqf!r}; known: {sorted(ACQF_PRESETS)} "
                                  "(or a mapping, or null for Ax's defaults)")
            acqf = ACQF_PRESETS[acqf]
        self._acqf = {str(key): int(v) for key, v in (acqf or {}).items()}
        unknown = set(self._acqf) - set(ACQF_KEYS)
        if unknown:
            raise ConfigError(f"search.{name}.acqf has unknown key(s) {sorted(unknown)}; known: {ACQF_KEYS}")
        self.budget, self.seed, self.noise = budget, seed, noise
        self._settings = dict(method=method, sobol_trials=sobol_trials, floors=self.floors, acqf=self._acqf)
        if self.min_weight:  # only when set: snapshots of runs without it stay adoptable
            self._settings["min_weight"] = self.min_weight
        if model != "scalar":
            self._settings["model"] = model
        torch.set_num_threads(torch_threads)
        self._params = [f"w{i}" for i in range(k)]
        self._seeds = [vertex(self.experts, e) for e in self.experts] + [uniform(self.experts)]
        self._seed_keys = {weights_key(w) for w in self._seeds}
        self._rng = np.random.default_rng([seed, 7_202_613])
        self._client = self._new_client()
        self._reset_bookkeeping()

    # ---- Ax setup -------------------------------------------------------------------------
    def _description(self) -> str:
        """Stored in the Ax experiment so a snapshot from other settings is never adopted."""
        return json.dumps({"strategy": self.name, "experts": self.experts, **self._settings}, sort_keys=True)

    def _new_client(self) -> Client:
        quiet_ax()  # before Ax logs its multi-line GenerationStrategy INFO line
        client = Client(random_seed=self.seed)
        free = self._params[:-1]
        lo = self.min_weight
        hi = 1.0 - lo * len(free)  # the other experts keep at least `lo` each
        params: list = [RangeParameterConfig(name=p, bounds=(lo, hi), parameter_type="float") for p in free]
        params.append(DerivedParameterConfig(name=self._params[-1], parameter_type="float",
                                             expression_str="1.0 - " + " - ".join(free)))
        constraints = [" + ".join(free) + f" <= {1.0 - lo!r}"] if len(free) > 1 else None
        client.configure_experiment(parameters=params, parameter_constraints=constraints, name=self.name,
                                    description=self._description())
        if self.model == "scalar":
            client.configure_optimization(
                objective=OBJECTIVE,
                outcome_constraints=[f"{category_metric(c)} >= {v}" for c, v in self.floors.items()] or None,
            )
        n_seeds = len(self._seeds)
        client.configure_generation_strategy(
            method=self._settings["method"],
            initialization_budget=n_seeds + self._settings["sobol_trials"],
            initialization_random_seed=self.seed,
            initialize_with_center=False,  # the center of the free coordinates is not the uniform soup
            min_observed_initialization_trials=n_seeds,
        )
        if self._acqf and "MBM" in client._generation_strategy.nodes_by_name:
            # Client has no knob for this; the GP node's spec takes it (and keeps it in JSON).
            sampler = {k: v for k, v in self._acqf.items() if k not in OPTIMIZER_KEYS}
            optimizer = {k: v for k, v in self._acqf.items() if k in OPTIMIZER_KEYS}
            spec = client._generation_strategy.nodes_by_name["MBM"].generator_specs[0]
            spec.generator_gen_kwargs = {"model_gen_options": {"optimizer_kwargs": {**optimizer, "options": sampler}}}
        quiet_ax()
        return client

    def _reset_bookkeeping(self) -> None:
        self.n_observed = 0
        self.n_cache_hits = 0  # own suggestions another strategy had evaluated: free, not budget
        self.n_prior = 0
        self.n_replaced = 0  # generated repeats (abandoned in Ax), each replaced by a redraw
        self._seeds_issued: set[WeightsKey] = set()
        self._seeds_done: set[WeightsKey] = set()
        self._pending: dict[WeightsKey, list[int]] = {}  # Ax RUNNING trials by weights
        self._requeue: list[Weights] = []  # RUNNING trials found in a snapshot: hand out again
        self._known: dict[WeightsKey, np.ndarray] = {}  # every soup BO has (observed, prior, pending)
        self._exhausted = False

    # ---- objective over categories (model: per_category) --------------------------------------
    def _configured(self) -> bool:
        return self._client._experiment.optimization_config is not None

    def _configure_per_category(self, result: TrialResult) -> None:
        """Objective = linear combination of cat_<c>: the macro (or micro) mean the results report."""
        cats = sorted(result.per_category)
        if not cats:
            raise ConfigError(f"search.{self.name}.model=per_category needs per-category scores; the result has none")
        acc = np.array([result.per_category[c].accuracy for c in cats])
        n = np.array([result.per_category[c].n for c in cats], dtype=float)
        if abs(acc.mean() - result.objective) < 1e-6:
            coef = np.full(len(cats), 1.0 / len(cats))
        elif n.sum() > 0 and abs((acc * n).sum() / n.sum() - result.objective) < 1e-6:
            coef = n / n.sum()
        else:
            raise ConfigError(f"search.{self.name}.model=per_category: the objective {result.objective:.6g} is "
                              "neither the macro nor the micro mean of the per-category scores; use model: scalar")
        self._cat_coef = dict(zip(cats, coef.tolist(), strict=True))
        expr = " + ".join(f"{c!r}*{category_metric(cat)}" for cat, c in self._cat_coef.items())
        self._client.configure_optimization(objective=expr)
        quiet_ax()

    def _objective_from(self, outcome: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
        """(mean, variance) of the objective from Ax's per-metric (mean, variance) outcome."""
        if self.model == "scalar":
            return outcome[OBJECTIVE]
        coef = self._category_coefficients()
        mean = sum(c * float(outcome[m][0]) for m, c in coef.items())
        var = sum(c * c * float(outcome[m][1]) for m, c in coef.items())
        return mean, var

    def _category_coefficients(self) -> dict[str, float]:
        """Metric name -> coefficient of the configured per-category objective."""
        objective = self._client._experiment.optimization_config.objective
        return {name: float(w) for name, w in objective.metric_weights}

    def _to_params(self, weights: Weights) -> dict[str, float]:
        free = [max(0.0, float(weights.get(e, 0.0))) for e in self.experts[:-1]]
        total = sum(free)
        if total > 1.0:
            free = [f / total for f in free]
        params = dict(zip(self._params[:-1], free, strict=True))
        params[self._params[-1]] = max(0.0, 1.0 - sum(free))  # always ours, never a stale value
        return params

    def _to_weights(self, params: Mapping[str, float]) -> Weights:
        return to_simplex(self.experts, [float(params[p]) for p in self._params])

    # ---- Strategy protocol ----------------------------------------------------------------
    def _n_pending(self) -> int:
        return len(self._seeds_issued - self._seeds_done) + sum(map(len, self._pending.values()))

    def suggest(self, n: int) -> list[Weights]:
        """Up to n distinct new soups (batch: Ax treats the RUNNING ones as pending)."""
        if n <= 0 or self.done():
            return []
        out = [self._requeue.pop(0) for _ in range(min(n, len(self._requeue)))]  # already pending
        n = len(out) + min(n - len(out), self.budget - self.n_fresh - self._n_pending())
        for w in self._seeds:
            key = weights_key(w)
            if len(out) < n and key not in self._seeds_issued and key not in self._seeds_done \
                    and not self._is_known(w):
                self._seeds_issued.add(key)
                self._remember(w)
                out.append(dict(w))
        if out or self._seeds_issued - self._seeds_done:
            return out  # GP generation waits until every seed has a result
        while len(out) < n:
            new = self._generate(n - len(out))
            if not new:
                break
            out += new
        return out

    def _generate(self, room: int) -> list[Weights]:
        """Ax's next trials, a repeat (within min_distance of a known soup) abandoned and redrawn."""
        for _ in range(GEN_TRIES):
            try:
                trials = self._client.get_next_trials(max_trials=room)
            except (DataRequiredError, SearchSpaceExhausted) as err:
                if not self._n_pending():
                    log.warning("%s: Ax cannot generate more trials (%s); stopping early", self.name, err)
                    self._exhausted = True
                return []
            out, repeats = [], 0
            for index, params in trials.items():
                weights = self._to_weights(params)
                if self._is_known(weights):
                    self._client.mark_trial_abandoned(index)  # pending for Ax: the next draw avoids it
                    repeats += 1
                    continue
                self._pending.setdefault(weights_key(weights), []).append(index)
                self._remember(weights)
                out.append(weights)
            self.n_replaced += repeats
            if out or not trials:
                return out
        return [self._random_box_point()]

    def _random_box_point(self) -> Weights:
        """A seeded Dirichlet draw scaled into the min_weight box, attached as a RUNNING trial."""
        k, lo = len(self.experts), self.min_weight
        for _ in range(1000):
            weights = to_simplex(self.experts, lo + (1.0 - k * lo) * self._rng.dirichlet(np.ones(k)))
            if not self._is_known(weights):
                break
        index = self._attach(weights)
        self._pending.setdefault(weights_key(weights), []).append(index)
        self._remember(weights)
        return weights

    def _vector(self, weights: Mapping[str, float]) -> np.ndarray:
        return np.array([float(weights.get(e, 0.0)) for e in self.experts])

    def _remember(self, weights: Mapping[str, float]) -> None:
        self._known[weights_key(weights)] = self._vector(weights)

    def _is_known(self, weights: Mapping[str, float]) -> bool:
        """Same soup (weights_key) as, or within min_distance (max-norm) of, one BO already has."""
        if weights_key(weights) in self._known:
            return True
        if not self._known or self.min_distance <= 0:
            return False
        known = np.stack(list(self._known.values()))
        return bool((np.abs(known - self._vector(weights)).max(axis=1) < self.min_distance).any())

    def prior(self, weights: Weights, result: TrialResult) -> None:
        """A soup evaluated before BO started (free): fitted like a trial, never suggested."""
        self._tell(self._attach(weights), weights, result)
        self.n_prior += 1

    def observe(self, weights: Weights, result: TrialResult) -> None:
        self._observe(weights, result)

    def observe_cache_hit(self, weights: Weights, result: TrialResult) -> None:
        """A suggestion the run's ledger already had (another strategy's soup): learnt from, but it
        costs no budget, so BO goes on to spend `budget` fresh evaluations. Flagged in the Ax
        trial's run metadata, so a snapshot restore counts it again."""
        index = self._observe(weights, result)
        self._client._experiment.trials[index].update_run_metadata({"cache_hit": True})
        self.n_cache_hits += 1

    def _observe(self, weights: Weights, result: TrialResult) -> int:
        key = weights_key(weights)
        if self._pending.get(key):
            index = self._pending[key].pop(0)
            if not self._pending[key]:
                del self._pending[key]
        else:  # a seed, or a trial replayed from the ledger
            index = self._attach(weights)
        self._tell(index, weights, result)
        self.n_observed += 1
        return index

    def _tell(self, index: int, weights: Weights, result: TrialResult) -> None:
        key = weights_key(weights)
        self._remember(weights)
        if key in self._seed_keys:
            self._seeds_done.add(key)
            self._seeds_issued.discard(key)
        if result.failed or not math.isfinite(result.objective):
            self._client.mark_trial_failed(index, failed_reason=result.error or "no objective")
            return
        if self.model == "per_category" and not self._configured():
            self._configure_per_category(result)
        self._client.complete_trial(index, raw_data=self._as_snapshot_keeps(self._raw_data(result)))

    def _attach(self, weights: Weights) -> int:
        """Add an observed soup as a RUNNING Ax trial, also when it lies outside the min_weight box.

        Expert seeds (and ledger trials from a run with a smaller min_weight) are outside the box
        on purpose: the GP still learns from them (Ax expands its model space to cover data).
        `Client.attach_trial` only warns for out-of-range values but raises for a violated sum
        constraint, so that case goes through the same two core calls Ax's attach makes.
        """
        params = self._to_params(weights)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*out-of-design", category=RuntimeWarning)
            try:
                return self._client.attach_trial(parameters=params)
            except ValueError as err:
                if "constraint" not in str(err):
                    raise
        trial = self._client._experiment.new_trial().add_arm(Arm(parameters=params))
        trial.mark_running(no_runner_required=True)
        return trial.index

    def _raw_data(self, result: TrialResult) -> dict[str, float | tuple[float, float]]:
        def value(mean: float, sem: float) -> float | tuple[float, float]:
            usable = self.noise == "binomial" and math.isfinite(sem)
            return (float(mean), float(sem)) if usable else float(mean)

        if self.model == "per_category":
            data = {}
            for metric in self._category_coefficients():
                cat = next((c for c in result.per_category if category_metric(c) == metric), None)
                if cat is None:
                    raise ConfigError(f"search.{self.name}: a trial result lacks category metric {metric} "
                                      f"(it has {sorted(result.per_category)})")
                score = result.per_category[cat]
                data[metric] = value(score.accuracy, score.sem)
            return data
        data = {OBJECTIVE: value(result.objective, result.sem)}
        for cat in self.floors:
            if cat not in result.per_category:
                raise ConfigError(f"search.{self.name}.floors names category {cat!r}, but trial results "
                                  f"only have {sorted(result.per_category)}")
            score = result.per_category[cat]
            data[category_metric(cat)] = value(score.accuracy, score.sem)
        return data

    @staticmethod
    def _as_snapshot_keeps(data: dict[str, float | tuple[float, float]]) -> dict[str, float | tuple[float, float]]:
        """Every mean and SEM of one trial's raw data through `as_snapshot_keeps` (one frame)."""
        flat = [x for v in data.values() for x in (v if isinstance(v, tuple) else (v,))]
        kept = iter(as_snapshot_keeps(flat))
        return {m: (next(kept), next(kept)) if isinstance(v, tuple) else next(kept) for m, v in data.items()}

    def done(self) -> bool:
        """`budget` own fresh trials observed (prior soups and cache hits excluded), or Ax cannot
        generate any more."""
        return self.n_fresh >= self.budget or (self._exhausted and not self._n_pending())

    @property
    def n_fresh(self) -> int:
        """Own trials that cost budget: observed ones that were not cache hits."""
        return self.n_observed - self.n_cache_hits

    # ---- results for the report -----------------------------------------------------------
    def best(self) -> BestPoint | None:
        """Best in-sample soup by model-predicted mean (damps the winner's curse), or None."""
        try:
            params, outcome, index, _ = self._client.get_best_parameterization(use_model_predictions=True)
        except (UnsupportedError, ValueError, KeyError) as err:
            log.warning("%s: no best point (%s)", self.name, err)
            return None
        mean, variance = self._objective_from(outcome)
        return BestPoint(weights=self._to_weights(params), objective=float(mean),
                         sem=math.sqrt(max(float(variance), 0.0)), trial_index=int(index))

    def predict(self, weights_list: Sequence[Weights]) -> list[tuple[float, float]]:
        """Surrogate (mean, SEM) of the objective at each soup, e.g. for a ternary map (K = 3).

        Raises RuntimeError before the GP has been fit (no BO step yet).
        """
        try:
            out = self._client.predict([self._to_params(w) for w in weights_list])
        except UnsupportedError as err:
            raise RuntimeError(f"{self.name}: no surrogate model yet ({err})") from None
        variances = ({m: (mean, sem**2) for m, (mean, sem) in p.items()} for p in out)  # Ax gives (mean, SEM)
        return [(float(m), math.sqrt(max(float(v), 0.0))) for m, v in map(self._objective_from, variances)]

    # ---- resume ---------------------------------------------------------------------------
    def snapshot(self, path: Path) -> None:
        """Atomic JSON snapshot of the Ax experiment + generation strategy (Ax writes in place)."""
        with atomic_file(path) as tmp:
            self._client.save_to_json_file(str(tmp))

    def restore(self, path: Path, completed: Sequence[tuple[Weights, TrialResult]]) -> bool:
        """Adopt the snapshot if its finished trials are (a sub-multiset of) the ledger's.

        Ledger trials the snapshot lacks (killed between ledger write and snapshot) are then
        observed on top; RUNNING trials of the snapshot are handed out again first. `completed`
        starts with the prior soups (run_search passes them first), which the snapshot holds too.
        """
        try:
            client = Client.load_from_json_file(str(path))
            experiment = client._experiment
        except Exception as err:  # a torn or foreign file: rebuild from the ledger instead
            log.warning("%s: snapshot %s unreadable (%s); rebuilding from the ledger", self.name, path, err)
            return False
        if experiment.description != self._description():
            log.warning("%s: snapshot %s has other settings; rebuilding from the ledger", self.name, path)
            return False
        finished: Counter = Counter()
        running: list[tuple[int, Weights]] = []
        for index, trial in experiment.trials.items():
            weights = self._to_weights(trial.arm.parameters)
            if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
                finished[weights_key(weights)] += 1
            elif trial.status == TrialStatus.RUNNING:
                running.append((index, weights))
        extra = Counter(weights_key(w) for w, _ in completed)
        extra.subtract(finished)
        if any(v < 0 for v in extra.values()):
            log.warning("%s: snapshot %s has trials the ledger lacks; rebuilding from the ledger", self.name, path)
            return False
        client._random_seed = self.seed  # Ax's JSON snapshot does not store the seed
        quiet_ax()
        self._client = client
        n_prior = self.n_prior
        self._reset_bookkeeping()
        self.n_prior = n_prior
        for trial in experiment.trials.values():  # abandoned repeats too: never suggested again
            self._remember(self._to_weights(trial.arm.parameters))
        self.n_observed = sum(finished.values()) - n_prior
        self.n_cache_hits = sum(1 for t in experiment.trials.values() if t.run_metadata.get("cache_hit"))
        self._seeds_done = {k for k in self._seed_keys if finished[k]}
        for index, weights in running:
            self._pending.setdefault(weights_key(weights), []).append(index)
        for weights, result in completed:  # ledger order; completes a RUNNING twin if there is one
            key = weights_key(weights)
            if extra[key] > 0:
                extra[key] -= 1
                self.observe(weights, result)
        still = {i for indices in self._pending.values() for i in indices}
        self._requeue = [w for index, w in running if index in still]
        return True
