"""The tiny zoo's benchmark: four toy categories, each scored the way its real counterpart is.

`tool` -> bfcl-eval's AST checker (BFCL `multiple`), `math` -> last number equals the answer
(MGSM), `translate` -> sentence chrF / 100 (FLORES), `retrieve` -> exact value (∞-Bench kv).
Items are the JSONL files written by `python -m soce_bo.zoo` into <zoo>/data/. It lives with the
zoo (above `soce_bo.evaluate`, whose protocol, JSONL reader and scorers it uses), not among the
paper's benchmarks: nothing in `evaluate` knows the zoo exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item, macro_mean
from soce_bo.evaluate.benchmarks.files import iter_jsonl
from soce_bo.evaluate.benchmarks.scoring import score_chrf
from soce_bo.evaluate.benchmarks.bfcl.checker import ast_check, decode_python_calls
from soce_bo.zoo.tasks import CATEGORIES, STOP, TASKS

_REQUIRED = ("id", "category", "prompt", "answer")
_TOOL_FIELDS = ("functions", "possible_answer")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return float(found[-1]) if found else None


def score_tool(item: Item, completion: str) -> float:
    try:
        calls = decode_python_calls(completion.strip())
    except ValueError:
        return 0.0
    valid, _ = ast_check(list(item.meta["functions"]), calls, list(item.meta["possible_answer"]),
                         category=item.meta.get("bfcl_category", "multiple"))
    return float(valid)


def score_math(item: Item, completion: str) -> float:
    got = last_number(completion)
    return float(got is not None and abs(got - float(item.answer)) < 1e-9)


def score_translate(item: Item, completion: str) -> float:
    return score_chrf(completion, str(item.answer))


def score_retrieve(item: Item, completion: str) -> float:
    return float(completion.strip() == str(item.answer))


SCORERS = {"tool": score_tool, "math": score_math, "translate": score_translate, "retrieve": score_retrieve}


class ZooBenchmark:
    """Benchmark over <zoo>/data/{dev,test}.jsonl; overall = unweighted mean over categories."""

    name = "zoo"

    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir).expanduser().resolve()
        # Accept the zoo folder itself as well as its data/ subfolder.
        if not (path / "dev.jsonl").exists() and (path / "data").is_dir():
            path = path / "data"
        self.data_dir = path

    def categories(self) -> list[str]:
        return list(CATEGORIES)

    def load(self, split: str) -> list[Item]:
        path = self.data_dir / f"{split}.jsonl"
        if not path.is_file():
            raise BenchmarkError(f"missing zoo benchmark file: {path} (build the zoo: python -m soce_bo.zoo out=...)")
        items, seen = [], set()
        for lineno, row in iter_jsonl(path):
            item = self._parse(f"{path}:{lineno}", row)
            if item.id in seen:
                raise BenchmarkError(f"{path}:{lineno}: duplicate id {item.id!r}")
            seen.add(item.id)
            items.append(item)
        if not items:
            raise BenchmarkError(f"{path}: no items")
        return items

    @staticmethod
    def _parse(where: str, row: dict[str, Any]) -> Item:
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise BenchmarkError(f"{where}: missing field(s) {', '.join(missing)}")
        if row["category"] not in SCORERS:
            raise BenchmarkError(f"{where}: unknown category {row['category']!r}; expected one of "
                                 f"{', '.join(CATEGORIES)}")
        if row["category"] == "tool":
            absent = [k for k in _TOOL_FIELDS if not isinstance(row.get(k), list)]
            if absent:
                raise BenchmarkError(f"{where}: tool item needs list field(s) {', '.join(absent)}")
        meta = {k: v for k, v in row.items() if k not in _REQUIRED}
        return Item(id=str(row["id"]), category=row["category"], prompt=str(row["prompt"]),
                    answer=row["answer"], meta=meta)

    def request(self, item: Item) -> GenRequest:
        return GenRequest(prompt=item.prompt, max_tokens=TASKS[item.category].max_tokens, stop=STOP)

    def score(self, item: Item, completion: str) -> float:
        return SCORERS[item.category](item, completion)

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        return macro_mean(per_category)
