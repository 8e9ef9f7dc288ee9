"""The tiny zoo's benchmark: four toy categories, each scored the way its real counterpart is.

`tool` -> bfcl-eval's AST checker (BFCL `multiple`), `math` -> last number equals the answer
(MGSM), `translate` -> sentence chrF / 100 (FLORES), `retrieve` -> exact value (∞-Bench kv).
Items are the JSONL files written by `python -m soce_bo.zoo` into <zoo>/data/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sacrebleu

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item, macro_mean
from soce_bo.zoo.tasks import CATEGORIES, STOP, TASKS

_REQUIRED = ("id", "category", "prompt", "answer")
_TOOL_FIELDS = ("functions", "possible_answer")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return float(found[-1]) if found else None


def score_tool(item: Item, completion: str) -> float:
    from soce_bo.evaluate.bfcl_ast import ast_check, decode_python_calls

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
    return sacrebleu.sentence_chrf(completion.strip(), [str(item.answer)]).score / 100.0


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
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    item = self._parse(path, lineno, line)
                    if item.id in seen:
                        raise BenchmarkError(f"{path}:{lineno}: duplicate id {item.id!r}")
                    seen.add(item.id)
                    items.append(item)
        if not items:
            raise BenchmarkError(f"{path}: no items")
        return items

    @staticmethod
    def _parse(path: Path, lineno: int, line: str) -> Item:
        where = f"{path}:{lineno}"
        try:
            row: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as err:
            raise BenchmarkError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise BenchmarkError(f"{where}: expected a JSON object")
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
