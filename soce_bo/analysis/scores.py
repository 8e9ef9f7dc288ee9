"""Per-model, per-category score tables: the input to SoCE steps 1-3.

A `ScoreTable` is the matrix P[model][category] of the paper. It is loaded from a CSV (first
column = model, header = categories) or a JSON file ({model: {category: score}}), or built from
a mapping (e.g. the zoo manifest's dev split, or the expert trials of a run). Every malformed
entry is reported once, naming the file, the model and the category.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soce_bo.errors import BenchmarkError
from soce_bo.values import CategoryScore


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Scores of `models` (rows) on `categories` (columns); `n` = items per category, if known.

    `source` names where the numbers came from so that later errors (e.g. a constant column in
    the correlation step) can point at the file.
    """

    models: tuple[str, ...]
    categories: tuple[str, ...]
    scores: np.ndarray
    n: Mapping[str, int] | None = None
    source: str = "<memory>"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        models, cats = tuple(self.models), tuple(self.categories)
        arr = np.array(self.scores, dtype=float)  # a private copy, made read-only below
        if arr.shape != (len(models), len(cats)):
            raise BenchmarkError(
                f"{self.source}: score matrix has shape {arr.shape}, expected "
                f"({len(models)} models, {len(cats)} categories)"
            )
        for label, names in (("model", models), ("category", cats)):
            dupes = sorted({x for x in names if names.count(x) > 1})
            if dupes:
                raise BenchmarkError(f"{self.source}: duplicate {label} name(s) {dupes}")
        if not models or not cats:
            raise BenchmarkError(f"{self.source}: score table has no models or no categories")
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            i, j = bad[0]
            raise BenchmarkError(
                f"{self.source}: score of model {models[i]!r} on category {cats[j]!r} is not a "
                f"finite number ({arr[i, j]})"
            )
        arr.setflags(write=False)
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "categories", cats)
        object.__setattr__(self, "scores", arr)
        object.__setattr__(self, "_index", {m: i for i, m in enumerate(models)})

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Mapping[str, Any]], source: str = "<memory>"
    ) -> ScoreTable:
        """Build from {model: {category: score}}; a score is a number, {"accuracy", "n"} or a
        `CategoryScore` (so a run's expert trials can be passed as {model: result.per_category}).

        Categories are taken in first-seen order; every model must have every category.
        """
        if not isinstance(table, Mapping) or not table:
            raise BenchmarkError(f"{source}: expected a non-empty mapping {{model: {{category: score}}}}")
        categories: list[str] = []
        for model, row in table.items():
            if not isinstance(row, Mapping):
                raise BenchmarkError(f"{source}: model {model!r} maps to {type(row).__name__}, "
                                     "expected {category: score}")
            categories.extend(c for c in row if c not in categories)
        scores = np.empty((len(table), len(categories)))
        n: dict[str, int] = {}
        for i, (model, row) in enumerate(table.items()):
            for j, cat in enumerate(categories):
                if cat not in row:
                    raise BenchmarkError(f"{source}: model {model!r} has no score for category {cat!r}")
                value, count = _parse_score(row[cat], source, model, cat)
                scores[i, j] = value
                if count is not None:
                    n[cat] = count
        return cls(tuple(str(m) for m in table), tuple(categories), scores, n or None, source)

    def score(self, model: str, category: str) -> float:
        return float(self.scores[self._index[model], self.categories.index(category)])

    def model_means(self) -> dict[str, float]:
        """Mean over all categories per model (the macro average; used to break ties)."""
        return {m: float(self.scores[i].mean()) for i, m in enumerate(self.models)}

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {m: {c: float(v) for c, v in zip(self.categories, self.scores[i], strict=True)}
                for i, m in enumerate(self.models)}


def _parse_score(value: Any, source: str, model: str, cat: str) -> tuple[float, int | None]:
    """A number, a numeric string, {"accuracy": x, "n": k} or a CategoryScore -> (score, n or None)."""
    count = None
    if isinstance(value, CategoryScore):
        value, count = value.accuracy, value.n
    elif isinstance(value, Mapping):
        if "accuracy" not in value:
            raise BenchmarkError(f"{source}: score of model {model!r} on category {cat!r} is a "
                                 "mapping without an 'accuracy' key")
        count = value.get("n")
        value = value["accuracy"]
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise BenchmarkError(f"{source}: score of model {model!r} on category {cat!r} is not "
                             f"numeric: {value!r}") from None
    if not math.isfinite(number):
        raise BenchmarkError(f"{source}: score of model {model!r} on category {cat!r} is {number}")
    return number, (int(count) if count is not None else None)


def load_score_table(path: str | Path) -> ScoreTable:
    """Read a score table from .csv (model column + one column per category) or .json."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"score table {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise BenchmarkError(f"{path}: not valid JSON ({err})") from None
        return ScoreTable.from_mapping(data, source=str(path))
    if suffix == ".csv":
        return _read_csv(path)
    raise BenchmarkError(f"score table {path}: unknown format {suffix!r} (use .csv or .json)")


def _read_csv(path: Path) -> ScoreTable:
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise BenchmarkError(f"{path}: needs a header row and at least one model row")
    header = [h.strip() for h in rows[0]]
    categories: Sequence[str] = header[1:]
    if not categories or any(not c for c in categories):
        raise BenchmarkError(f"{path}: header must be 'model,<category>,<category>,...' with "
                             "non-empty category names")
    table: dict[str, dict[str, str]] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        model = row[0].strip()
        if model in table:
            raise BenchmarkError(f"{path}:{line_no}: model {model!r} appears twice")
        cells = [c.strip() for c in row[1:]]
        table[model] = {cat: cells[j] for j, cat in enumerate(categories)
                        if j < len(cells) and cells[j] != ""}
        if len(cells) > len(categories):
            raise BenchmarkError(f"{path}:{line_no}: model {model!r} has {len(cells)} scores but the "
                                 f"header names {len(categories)} categories")
    # from_mapping takes categories from the first row; pin them to the header order instead.
    ordered = {m: {c: row[c] for c in categories if c in row} for m, row in table.items()}
    for model, row in ordered.items():
        for cat in categories:
            if cat not in row:
                raise BenchmarkError(f"{path}: model {model!r} has no score for category {cat!r}")
    return ScoreTable.from_mapping(ordered, source=str(path))
