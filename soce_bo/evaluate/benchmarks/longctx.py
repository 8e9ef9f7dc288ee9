"""Long-context retrieval in the ∞-Bench (InfiniteBench) format: one category per task file.

Reads `<task>.jsonl` files (fields: id, context, input, answer -- answer a string or a list whose
first entry is the label) from a local folder. Prompts are InfiniteBench's completion-style
templates for base models; scoring follows its rules: passkey / number_string compare the first
run of digits in the completion with the label, kv_retrieval looks for the label among the
completion's words. ∞-Bench has one evaluation set, so dev/test is a seeded hash split of ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item, macro_mean
from soce_bo.evaluate.benchmarks.files import check_fraction, check_split, in_split, iter_jsonl, require_file

_HIDDEN = "There is an important info hidden inside a lot of irrelevant text. Find it"
TEMPLATES = {
    "passkey": _HIDDEN + " and memorize it. I will quiz you about the important information.\n\n"
               "{context}\n\n{input}\n\nThe pass key is",
    "number_string": _HIDDEN + ". I will quiz you about the important information there.\n\n"
                     "{context}\n\n{input}\n\nThe sequence of digits is",
    "kv_retrieval": "Extract the value corresponding to the specified key in the JSON object below.\n\n"
                    "{context}\n\n{input}",
}
_KV_SEPARATORS = re.compile(r"[\n:\"'.,?!{}]")


def first_digit_run(text: str) -> str:
    """The first maximal run of ASCII digits in `text`, or '' if there is none."""
    match = re.search(r"[0-9]+", text)
    return match.group() if match else ""


def score_digits(completion: str, label: str) -> float:
    return float(first_digit_run(completion) == label)


def score_kv(completion: str, label: str) -> float:
    """The label must appear as a whole word once JSON punctuation is turned into spaces."""
    return float(label in _KV_SEPARATORS.sub(" ", completion).split())


SCORERS = {"passkey": score_digits, "number_string": score_digits, "kv_retrieval": score_kv}


def truncate_middle(text: str, max_chars: int | None) -> str:
    """Keep the head and tail of an over-long context, as ∞-Bench does to fit a model's window."""
    if max_chars is None or len(text) <= max_chars:
        return text
    head = max_chars // 2
    return text[:head] + text[len(text) - (max_chars - head):]


class LongContextBenchmark:
    """∞-Bench retrieval tasks (passkey, number_string, kv_retrieval); overall = mean over tasks."""

    name = "longctx"

    def __init__(
        self,
        data_dir: str,
        tasks: Sequence[str] = ("passkey", "number_string", "kv_retrieval"),
        templates: Mapping[str, str] | None = None,
        max_context_chars: int | None = None,
        max_tokens: int = 64,
        dev_fraction: float = 0.3,
        split_seed: int = 0,
    ) -> None:
        unknown = [t for t in tasks if t not in SCORERS]
        if unknown:
            raise BenchmarkError(f"longctx: unknown task(s) {unknown}; supported: {sorted(SCORERS)}")
        if not tasks:
            raise BenchmarkError("longctx: 'tasks' is empty")
        self.templates = {**TEMPLATES, **(templates or {})}
        for task in tasks:
            if "{context}" not in self.templates[task] or "{input}" not in self.templates[task]:
                raise BenchmarkError(f"longctx template for {task!r} must contain '{{context}}' and '{{input}}'")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.tasks = list(tasks)
        self.max_context_chars = max_context_chars
        self.max_tokens = int(max_tokens)
        self.dev_fraction = check_fraction(dev_fraction)
        self.split_seed = int(split_seed)

    def categories(self) -> list[str]:
        return list(self.tasks)

    def _label(self, path: Path, lineno: int, record: dict) -> str:
        for key in ("context", "input", "answer"):
            if key not in record:
                raise BenchmarkError(f"{path}:{lineno}: missing field {key!r}")
        answer = record["answer"]
        label = answer[0] if isinstance(answer, list) and answer else answer
        if not isinstance(label, (str, int)) or str(label) == "":
            raise BenchmarkError(f"{path}:{lineno}: field 'answer' must be a non-empty string or list of strings")
        return str(label)

    def load(self, split: str) -> list[Item]:
        check_split(split)
        items: list[Item] = []
        for task in self.tasks:
            path = require_file(self.data_dir / f"{task}.jsonl", f"∞-Bench {task} file")
            for lineno, record in iter_jsonl(path):
                label = self._label(path, lineno, record)
                item_id = f"{task}_{record.get('id', lineno - 1)}"
                if not in_split(item_id, split, self.dev_fraction, self.split_seed):
                    continue
                context = truncate_middle(str(record["context"]), self.max_context_chars)
                prompt = self.templates[task].format(context=context, input=record["input"])
                items.append(Item(id=item_id, category=task, prompt=prompt, answer=label))
        return items

    def request(self, item: Item) -> GenRequest:
        return GenRequest(prompt=item.prompt, max_tokens=self.max_tokens)

    def score(self, item: Item, completion: str) -> float:
        return SCORERS[item.category](completion, str(item.answer))

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        return macro_mean(per_category)
