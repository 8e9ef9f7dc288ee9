"""Bring-your-own benchmark: a JSON-lines file whose rows name their category and scorer.

One row per item (format documented in README.md, section "Benchmarks"):
    {"id": "q1", "category": "arith", "prompt": "2+3=", "answer": "5", "scorer": "number",
     "max_tokens": 8, "stop": ["\\n"], "split": "dev"}
`answer` may be a list of accepted answers (or references for chrf/bleu). `scorer` is one of
SCORERS; `bfcl_ast` also needs `functions` (BFCL function docs) and takes BFCL's possible-answer
list as `answer`, with `bfcl_category` choosing the checker (simple / multiple / parallel).
`path` is one file (rows carry `split`, or a seeded hash of `id` decides) or a folder holding
`dev.jsonl` and `test.jsonl`. Every row is validated when the benchmark is built, and an error
names the file, the line and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item, macro_mean
from soce_bo.evaluate.benchmarks.files import check_fraction, check_split, hashed_split, iter_jsonl, require_file
from soce_bo.evaluate.benchmarks.scoring import TEXT_SCORERS
from soce_bo.evaluate.benchmarks.bfcl.benchmark import score_ast_completion

SCORERS = (*TEXT_SCORERS, "bfcl_ast")
_TEXT_ANSWER = (str, int, float)


def _fail(path: Path, lineno: int, field: str, why: str) -> BenchmarkError:
    return BenchmarkError(f"{path}:{lineno}: field {field!r}: {why}")


def _check_answer(path: Path, lineno: int, scorer: str, answer: Any) -> None:
    if scorer == "bfcl_ast":
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise _fail(path, lineno, "answer", "bfcl_ast needs BFCL's possible-answer list [{func: {arg: [values]}}]")
        return
    values = answer if isinstance(answer, list) else [answer]
    if not values or not all(isinstance(v, _TEXT_ANSWER) and not isinstance(v, bool) for v in values):
        raise _fail(path, lineno, "answer", "must be a string/number or a non-empty list of them")
    if scorer == "regex":
        for v in values:
            try:
                re.compile(str(v))
            except re.error as err:
                raise _fail(path, lineno, "answer", f"invalid regex ({err})") from None


def parse_row(path: Path, lineno: int, row: dict[str, Any], default_max_tokens: int) -> tuple[Item, str | None]:
    """Validate one row and turn it into an Item (+ the row's explicit split, if any)."""
    for field in ("id", "category", "prompt", "answer", "scorer"):
        if field not in row:
            raise _fail(path, lineno, field, "missing")
    for field in ("id", "category", "prompt"):
        if not isinstance(row[field], str) or (field != "prompt" and not row[field].strip()):
            raise _fail(path, lineno, field, "must be a non-empty string")
    scorer = row["scorer"]
    if scorer not in SCORERS:
        raise _fail(path, lineno, "scorer", f"{scorer!r} is not one of {', '.join(SCORERS)}")
    _check_answer(path, lineno, scorer, row["answer"])
    max_tokens = row.get("max_tokens", default_max_tokens)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _fail(path, lineno, "max_tokens", "must be a positive integer")
    stop = row.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise _fail(path, lineno, "stop", "must be a list of non-empty strings")
    split = row.get("split")
    if split is not None and split not in ("dev", "test"):
        raise _fail(path, lineno, "split", "must be 'dev' or 'test'")
    meta: dict[str, Any] = {"scorer": scorer, "max_tokens": max_tokens, "stop": tuple(stop)}
    if scorer == "bfcl_ast":
        functions = row.get("functions")
        docs_ok = isinstance(functions, list) and all(isinstance(f, dict) and "name" in f for f in functions)
        if not docs_ok or not functions:
            raise _fail(path, lineno, "functions", "bfcl_ast needs a non-empty list of BFCL function docs")
        meta["functions"] = functions
        meta["bfcl_category"] = str(row.get("bfcl_category", "simple_python"))
    return Item(id=row["id"], category=row["category"], prompt=row["prompt"], answer=row["answer"], meta=meta), split


class CustomBenchmark:
    """Items and scorers from the user's JSONL; overall = unweighted mean over categories."""

    name = "custom"

    def __init__(
        self,
        path: str,
        categories: Sequence[str] | None = None,
        default_max_tokens: int = 256,
        dev_fraction: float = 0.3,
        split_seed: int = 0,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.dev_fraction = check_fraction(dev_fraction)
        self.split_seed = int(split_seed)
        self._items: dict[str, list[Item]] = {"dev": [], "test": []}
        if self.path.is_dir():
            for split in ("dev", "test"):
                self._read(require_file(self.path / f"{split}.jsonl", f"custom benchmark {split} file"),
                           int(default_max_tokens), forced_split=split)
        else:
            self._read(require_file(self.path, "custom benchmark file"), int(default_max_tokens))
        found = list(dict.fromkeys(it.category for its in self._items.values() for it in its))
        if categories is not None:
            missing = [c for c in categories if c not in found]
            if missing:
                raise BenchmarkError(f"{self.path}: no rows for category {missing}; found {found}")
        self._categories = list(categories) if categories is not None else found

    def _read(self, path: Path, default_max_tokens: int, forced_split: str | None = None) -> None:
        seen = {it.id for its in self._items.values() for it in its}
        count = 0
        for lineno, row in iter_jsonl(path):
            item, split = parse_row(path, lineno, row, default_max_tokens)
            if item.id in seen:
                raise _fail(path, lineno, "id", f"duplicate id {item.id!r}")
            seen.add(item.id)
            side = forced_split or split or hashed_split(item.id, self.dev_fraction, self.split_seed)
            self._items[side].append(item)
            count += 1
        if count == 0:
            raise BenchmarkError(f"{path}: no rows")

    def categories(self) -> list[str]:
        return list(self._categories)

    def load(self, split: str) -> list[Item]:
        check_split(split)
        pool = self._items["dev"] + self._items["test"] if split == "all" else self._items[split]
        return [item for item in pool if item.category in self._categories]

    def request(self, item: Item) -> GenRequest:
        return GenRequest(prompt=item.prompt, max_tokens=item.meta["max_tokens"], stop=item.meta["stop"])

    def score(self, item: Item, completion: str) -> float:
        scorer = item.meta["scorer"]
        if scorer == "bfcl_ast":
            return score_ast_completion(completion, item.meta["functions"], item.answer, item.meta["bfcl_category"])
        return TEXT_SCORERS[scorer](completion, item.answer)

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        return macro_mean(per_category)
