"""The typed results.json: written by the recipe, read by the report (and by scripts).

Rows of the score tables are typed (`SoupRow.kind` + `name`) instead of labels such as
"expert:<name>" that the report had to parse back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from soce_bo.atomic import atomic_write
from soce_bo.errors import ConfigError

SCHEMA_VERSION = 2
RowKind = Literal["expert", "uniform_all", "uniform_experts", "best"]


@dataclass(frozen=True)
class SoupRow:
    """One soup in a score table: a candidate alone, a uniform baseline, or a strategy's best."""

    kind: RowKind
    name: str | None  # the candidate (kind expert) or the strategy (kind best)
    weights: dict[str, float]
    objective: float
    sem: float
    per_category: dict[str, dict[str, float]]

    @property
    def label(self) -> str:
        """What a table or legend shows."""
        if self.kind == "expert":
            return str(self.name)
        if self.kind == "best":
            return f"best of {self.name}"
        return {"uniform_all": "uniform (all candidates)", "uniform_experts": "uniform (experts)"}[self.kind]


@dataclass
class RunResults:
    """Everything one run decided and measured. See README "results.json" for each field."""

    run: dict[str, Any]
    benchmark: dict[str, Any]
    splits: dict[str, str]
    pool: dict[str, str]
    analysis: dict[str, Any]
    experts: list[str]
    strategies: list[str]
    trials: list[dict[str, Any]]
    evaluations: dict[str, int]
    fresh_evaluations: int
    curves: dict[str, list[float]]
    reference_lines: dict[str, float]
    best: dict[str, dict[str, Any]]
    tables: dict[str, list[SoupRow]]
    surrogate: dict[str, Any] | None = None
    final_soup: dict[str, Any] | None = None
    retries: int = 0
    published: dict[str, Any] | None = None  # the pool config's published_overall / paper_soce, for reference
    best_candidate: str | None = None  # the candidate with the best select-split (dev) objective
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # paired tests on the report split
    shapley: dict[str, Any] | None = None  # {values, sem (None if exact), exact, coalitions, v_empty, split}
    # per search: {trials, fresh, items, stopped_early}; fresh = soups not already in the ledger,
    # items = items generated for them (a raced soup counts only the items it was scored on)
    cost: dict[str, dict[str, int]] = field(default_factory=dict)
    racing: dict[str, Any] | None = None  # the racing settings when racing was on
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self, split: str) -> list[SoupRow]:
        return list(self.tables.get(split, []))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tables"] = {split: [asdict(r) for r in rows] for split, rows in self.tables.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "results.json") -> RunResults:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ConfigError(f"{source} has schema_version {version!r}; this soce_bo reads "
                              f"{SCHEMA_VERSION} (re-run the experiment to rebuild it)")
        values = dict(data)
        values["tables"] = {split: [SoupRow(**r) for r in rows] for split, rows in data.get("tables", {}).items()}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {unknown}")
        return cls(**values)

    def write(self, path: Path) -> None:
        """Atomically (temp file + rename): a kill never leaves a half-written results.json."""
        atomic_write(path, json.dumps(self.to_dict(), indent=1, default=float))

    @classmethod
    def load(cls, run_dir: str | Path) -> RunResults:
        path = Path(run_dir) / "results.json"
        if not path.is_file():
            raise ConfigError(f"no results.json in run_dir {run_dir} (has the run finished its search?)")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from None
        return cls.from_dict(data, source=str(path))
