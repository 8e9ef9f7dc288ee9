"""Text scorers shared by the MGSM, FLORES, ∞-Bench, custom and zoo benchmarks; each returns [0, 1].

Kept in one place so that "number" means the same extraction in MGSM and in a user's custom
category, and "chrf" the same sacrebleu call in FLORES and in custom JSONL files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import sacrebleu

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# "The answer is 42" style markers (MGSM exemplars end with one, in English or the item's language).
DEFAULT_ANSWER_MARKERS = (
    r"answer is", r"answer:", r"respuesta es", r"réponse est", r"antwort lautet", r"antwort ist",
    r"ответ", r"答案是", r"答えは", r"jibu ni", r"คำตอบคือ", r"উত্তর হল", r"సమాధానం",
)


def _alternatives(answer: Any) -> list[str]:
    """A reference answer may be one value or a list of accepted values."""
    values = answer if isinstance(answer, (list, tuple)) else [answer]
    return [str(v) for v in values]


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def normalize_space(text: str) -> str:
    return " ".join(text.split())


def parse_number(text: str) -> float | None:
    """'1,234.5' -> 1234.5; None when `text` is not a number (thousands commas are dropped)."""
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


def extract_number(completion: str, markers: Sequence[str] = DEFAULT_ANSWER_MARKERS) -> float | None:
    """The model's numeric answer: first number after the last answer marker, else the last number.

    Chain-of-thought completions mention many numbers; the marker (or, failing that, the final
    number) is what MGSM-style evaluations read as the answer.
    """
    lowered = completion.lower()
    cut = -1
    for marker in markers:
        for m in re.finditer(marker, lowered):
            cut = max(cut, m.end())
    if cut >= 0:
        after = _NUMBER.search(completion, cut)
        if after is not None:
            return parse_number(after.group())
    found = _NUMBER.findall(completion)
    return parse_number(found[-1]) if found else None


def numbers_equal(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def score_number(completion: str, answer: Any) -> float:
    got = extract_number(completion)
    if got is None:
        return 0.0
    for alt in _alternatives(answer):
        want = parse_number(alt.strip())
        if want is not None and numbers_equal(got, want):
            return 1.0
    return 0.0


def score_exact(completion: str, answer: Any) -> float:
    got = normalize_space(completion)
    return float(any(got == normalize_space(a) for a in _alternatives(answer)))


def score_exact_ci(completion: str, answer: Any) -> float:
    got = normalize_space(completion).casefold()
    return float(any(got == normalize_space(a).casefold() for a in _alternatives(answer)))


def score_contains(completion: str, answer: Any) -> float:
    return float(any(a in completion for a in _alternatives(answer)))


def score_regex(completion: str, answer: Any) -> float:
    return float(any(re.search(a, completion) is not None for a in _alternatives(answer)))


def score_chrf(completion: str, answer: Any) -> float:
    """Sentence chrF (sacrebleu defaults: char order 6, beta 2) divided by 100."""
    return _clamp(sacrebleu.sentence_chrf(completion.strip(), _alternatives(answer)).score / 100.0)


def score_bleu(completion: str, answer: Any, tokenize: str = "13a") -> float:
    """Sentence BLEU (exp smoothing, effective order) divided by 100."""
    refs = _alternatives(answer)
    return _clamp(sacrebleu.sentence_bleu(completion.strip(), refs, tokenize=tokenize).score / 100.0)


TEXT_SCORERS: dict[str, Callable[[str, Any], float]] = {
    "exact": score_exact,
    "exact_ci": score_exact_ci,
    "number": score_number,
    "contains": score_contains,
    "regex": score_regex,
    "chrf": score_chrf,
    "bleu": score_bleu,
}


def first_line(text: str) -> str:
    """The first non-empty line: single-sentence tasks stop at the first newline."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""
