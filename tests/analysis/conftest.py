"""Score tables with exactly known category correlations, shared by the analysis tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from soce_bo.analysis import ScoreTable

# p, q, r agree closely; s stands apart (0.40 / 0.55 / 0.65), so tau = 0.5 keeps only p and s.
TARGET = np.array([
    [1.00, 0.90, 0.85, 0.40],
    [0.90, 1.00, 0.88, 0.55],
    [0.85, 0.88, 1.00, 0.65],
    [0.40, 0.55, 0.65, 1.00],
])
CATS = ("p", "q", "r", "s")


def _table_with_correlation(target: np.ndarray, n_models: int = 8, seed: int = 0) -> ScoreTable:
    """Scores whose category columns have exactly the Pearson correlation `target`.

    Orthonormal, zero-mean columns Z times chol(target)^T have sample correlation `target`.
    """
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n_models, len(target)))
    raw -= raw.mean(axis=0)
    z, _ = np.linalg.qr(raw)
    scores = 0.5 + 0.1 * z @ np.linalg.cholesky(target).T
    return ScoreTable(tuple(f"m{i}" for i in range(n_models)), CATS[: len(target)], scores)


@pytest.fixture
def case() -> SimpleNamespace:
    """The TARGET table plus the factory, for tests that need other correlation matrices."""
    return SimpleNamespace(target=TARGET, cats=CATS, table=_table_with_correlation(TARGET),
                           make=_table_with_correlation)
