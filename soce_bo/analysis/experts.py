"""SoCE step 3: one expert per selected category (or cluster), and the `Analysis` record.

Use DEV scores only: the paper picked experts on the reported test scores, which leaks.
The paper gives no tie rule; ours is deterministic and stated in `select_experts`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from soce_bo.analysis.correlation import category_correlation, cluster_categories, low_correlation_set
from soce_bo.analysis.scores import ScoreTable
from soce_bo.errors import ConfigError

log = logging.getLogger(__name__)

Mode = Literal["tau", "cluster"]
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Expert:
    """A selected model and the categories whose group it won (one model can win several)."""

    model: str
    categories: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything steps 1-3 decided, JSON-serialisable via `to_dict` for the run's report."""

    mode: str
    models: tuple[str, ...]
    categories: tuple[str, ...]
    correlation: np.ndarray
    tau: float
    low_corr: tuple[str, ...]
    clusters: tuple[tuple[str, ...], ...] | None
    groups: tuple[tuple[str, ...], ...]
    candidates: tuple[str, ...]
    experts: tuple[Expert, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def expert_names(self) -> list[str]:
        return [e.model for e in self.experts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "models": list(self.models),
            "categories": list(self.categories),
            "correlation": [[float(x) for x in row] for row in self.correlation],
            "tau": self.tau,
            "low_corr": list(self.low_corr),
            "clusters": None if self.clusters is None else [list(c) for c in self.clusters],
            "groups": [list(g) for g in self.groups],
            "candidates": list(self.candidates),
            "experts": [{"model": e.model, "categories": list(e.categories)} for e in self.experts],
            "settings": dict(self.settings),
        }


def select_experts(
    table: ScoreTable, groups: Sequence[Sequence[str]], candidates: Sequence[str] | None = None
) -> tuple[Expert, ...]:
    """Best candidate per group (mean score over the group's categories); distinct models.

    Ties (within 1e-12) go to the higher mean over ALL categories, then to the name that sorts
    first. Experts are listed in the order of the first group they win.
    """
    cands = list(candidates) if candidates is not None else list(table.models)
    unknown = [m for m in cands if m not in table.models]
    if unknown:
        raise ConfigError(f"candidate model(s) {unknown} have no scores in {table.source}")
    if not cands:
        raise ConfigError("no candidate models to select experts from")
    overall = table.model_means()
    won: dict[str, list[str]] = {}
    for group in groups:
        cols = [table.categories.index(c) for c in group]
        rows = [table.models.index(m) for m in cands]
        means = table.scores[np.ix_(rows, cols)].mean(axis=1)
        top = float(means.max())
        tied = [m for m, v in zip(cands, means, strict=True) if math.isclose(v, top, rel_tol=0, abs_tol=TIE_TOLERANCE)]
        winner = sorted(tied, key=lambda m: (-overall[m], m))[0]
        mine = won.setdefault(winner, [])
        mine.extend([c for c in group if c not in mine])
    return tuple(Expert(model=m, categories=tuple(cats)) for m, cats in won.items())


def drop_uninformative(table: ScoreTable) -> tuple[ScoreTable, tuple[str, ...]]:
    """Remove categories on which every model scores the same (their correlation is undefined).

    Such a category cannot name an expert (every model ties), so SoCE has nothing to learn from
    it; small dev splits produce them (e.g. a skill no candidate has yet). They are reported in
    `Analysis.settings["uninformative"]` and still count in the search objective.
    """
    flat = tuple(c for j, c in enumerate(table.categories) if np.ptp(table.scores[:, j]) == 0)
    if not flat or len(flat) >= len(table.categories) - 1:
        return table, ()  # nothing to drop, or nothing would be left: category_correlation explains
    keep = [j for j, c in enumerate(table.categories) if c not in flat]
    log.warning("%s: every model scores the same on %s; left out of the correlation analysis",
                table.source, list(flat))
    n = {c: v for c, v in table.n.items() if c not in flat} if table.n else table.n
    return ScoreTable(models=table.models, categories=tuple(table.categories[j] for j in keep),
                      scores=table.scores[:, keep], n=n, source=table.source), flat


def analyze(
    table: ScoreTable,
    mode: Mode = "tau",
    tau: float = 0.5,
    linkage: str = "average",
    n_clusters: int | None = None,
    distance_threshold: float | None = None,
    candidates: Sequence[str] | None = None,
) -> Analysis:
    """Run SoCE steps 1-3 on a DEV score table.

    Args:
        table: scores of every model used for the correlation (may include non-candidates, as the
            paper used the whole leaderboard).
        mode: "tau" (the paper: one expert per category in the low-correlation set L) or
            "cluster" (one expert per hierarchical cluster of categories).
        tau: threshold of the paper's pairwise test (the paper never gives its value).
        linkage, n_clusters, distance_threshold: clustering settings (mode "cluster"; when a cut
            is given in mode "tau" the clusters are still computed and reported).
        candidates: models that may become experts (default: every model in the table).
    """
    if mode not in ("tau", "cluster"):
        raise ConfigError(f"analysis.mode must be 'tau' or 'cluster', got {mode!r}")
    table, uninformative = drop_uninformative(table)
    rho = category_correlation(table)
    cats = table.categories
    low = low_correlation_set(rho, cats, tau)
    has_cut = n_clusters is not None or distance_threshold is not None
    clusters = (cluster_categories(rho, cats, linkage, n_clusters, distance_threshold)
                if mode == "cluster" or has_cut else None)
    if mode == "tau":
        if not low:
            off = np.abs(rho) + np.eye(len(cats)) * 2.0
            i, j = np.unravel_index(np.argmin(off), off.shape)
            raise ConfigError(
                f"no category passes the tau test: the lowest |rho| is {off[i, j]:.3f} "
                f"({cats[i]!r} vs {cats[j]!r}) >= tau={tau}; raise analysis.tau or use "
                "analysis.mode=cluster"
            )
        groups = tuple((c,) for c in low)
    else:
        groups = clusters  # type: ignore[assignment]
    cand = tuple(candidates) if candidates is not None else table.models
    experts = select_experts(table, groups, cand)
    settings = {"linkage": linkage, "n_clusters": n_clusters, "distance_threshold": distance_threshold,
                "source": table.source, "uninformative": list(uninformative)}
    return Analysis(mode=mode, models=table.models, categories=cats, correlation=rho, tau=tau,
                    low_corr=low, clusters=clusters, groups=groups, candidates=cand,
                    experts=experts, settings=settings)
