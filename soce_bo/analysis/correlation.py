"""SoCE steps 1-2: how categories co-vary across models, and which ones stand apart.

The paper computes Pearson correlations between category columns (across models) and keeps a
category when *some* other category correlates with it below a threshold tau. It mentions
"clusters" without defining any, so we also offer hierarchical clustering of the categories
(distance 1 - rho): each cluster is a group of categories one expert should cover.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from soce_bo.analysis.scores import ScoreTable
from soce_bo.errors import BenchmarkError, ConfigError

# Linkages that are valid for an arbitrary (non-Euclidean) distance matrix such as 1 - rho.
LINKAGES = ("single", "complete", "average", "weighted")


def category_correlation(table: ScoreTable) -> np.ndarray:
    """Pearson rho between every pair of categories, computed across the table's models.

    Raises BenchmarkError when it is undefined: fewer than 3 models (with 2 every rho is +-1),
    fewer than 2 categories, or a category on which all models score the same.
    """
    n_models, n_cats = table.scores.shape
    if n_models < 3:
        raise BenchmarkError(
            f"{table.source}: correlation across models needs at least 3 models, got {n_models} "
            f"({', '.join(table.models)})"
        )
    if n_cats < 2:
        raise BenchmarkError(f"{table.source}: correlation needs at least 2 categories, got "
                             f"{list(table.categories)}")
    flat = [c for j, c in enumerate(table.categories) if np.ptp(table.scores[:, j]) == 0]
    if flat:
        raise BenchmarkError(
            f"{table.source}: every model has the same score on category {flat[0]!r}"
            + (f" (also {flat[1:]})" if len(flat) > 1 else "")
            + "; its correlation with other categories is undefined -- drop it or add models"
        )
    rho = np.corrcoef(table.scores, rowvar=False)
    rho = np.clip((rho + rho.T) / 2.0, -1.0, 1.0)  # exact symmetry, no 1.0000000002
    np.fill_diagonal(rho, 1.0)
    return rho


def low_correlation_set(rho: np.ndarray, categories: Sequence[str], tau: float) -> tuple[str, ...]:
    """The paper's L: category c is kept iff some other category d has |rho(c, d)| < tau."""
    if not 0.0 < tau <= 1.0:
        raise ConfigError(f"analysis.tau must be in (0, 1], got {tau}")
    off = np.abs(rho) + np.eye(len(categories)) * 2.0  # the diagonal never counts
    return tuple(c for i, c in enumerate(categories) if np.any(off[i] < tau))


def cluster_categories(
    rho: np.ndarray,
    categories: Sequence[str],
    linkage: str = "average",
    n_clusters: int | None = None,
    distance_threshold: float | None = None,
) -> tuple[tuple[str, ...], ...]:
    """Agglomerative clusters of categories under distance 1 - rho (0 = identical, 2 = opposite).

    Exactly one cut is given: `n_clusters` (at most that many clusters) or `distance_threshold`
    (merge while the linkage distance is <= it). Clusters are listed by their first category in
    table order, and each keeps the table order inside.
    """
    if linkage not in LINKAGES:
        raise ConfigError(f"analysis.linkage must be one of {LINKAGES} (ward/centroid/median need "
                          f"Euclidean distances, 1 - rho is not), got {linkage!r}")
    if (n_clusters is None) == (distance_threshold is None):
        raise ConfigError("give exactly one of analysis.n_clusters and analysis.distance_threshold, "
                          f"got n_clusters={n_clusters}, distance_threshold={distance_threshold}")
    k = len(categories)
    if n_clusters is not None and not 1 <= n_clusters <= k:
        raise ConfigError(f"analysis.n_clusters must be in 1..{k} (number of categories), got {n_clusters}")
    if distance_threshold is not None and not 0.0 <= distance_threshold <= 2.0:
        raise ConfigError(f"analysis.distance_threshold must be in [0, 2] (1 - rho), got "
                          f"{distance_threshold}")
    dist = np.clip(1.0 - rho, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    tree = hierarchy.linkage(squareform(dist, checks=False), method=linkage)
    if n_clusters is not None:
        labels = hierarchy.fcluster(tree, t=n_clusters, criterion="maxclust")
    else:
        labels = hierarchy.fcluster(tree, t=distance_threshold, criterion="distance")
    groups: dict[int, list[str]] = {}
    for cat, label in zip(categories, labels, strict=True):
        groups.setdefault(int(label), []).append(cat)
    return tuple(tuple(g) for g in groups.values())  # dict keeps first-seen (table) order
