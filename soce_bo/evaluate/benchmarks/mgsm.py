"""MGSM (multilingual grade-school math): one category per language, answer = the final number.

Reads the original release files `mgsm_<lang>.tsv` (no header; question<TAB>answer, 250 rows per
language) from a local folder. MGSM ships one evaluation set, so dev/test are a seeded hash split
of the item ids (see `files.py`); the same question index gets the same side in every language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item, macro_mean
from soce_bo.evaluate.benchmarks.files import check_fraction, check_split, in_split, require_file
from soce_bo.evaluate.benchmarks.scoring import score_number

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
DEFAULT_TEMPLATE = "Question: {question}\nStep-by-Step Answer:"


def read_mgsm_tsv(path: Path) -> list[tuple[str, str]]:
    """(question, answer) rows of one `mgsm_<lang>.tsv`; a bad row names file and line."""
    rows = []
    with open(require_file(path, "MGSM file"), encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                raise BenchmarkError(f"{path}:{lineno}: expected 'question<TAB>answer', got {len(fields)} field(s)")
            rows.append((fields[0], fields[1].strip()))
    if not rows:
        raise BenchmarkError(f"{path}: no rows")
    return rows


class MGSMBenchmark:
    """Exact match of the extracted final number, per language; overall = mean over languages."""

    name = "mgsm"

    def __init__(
        self,
        data_dir: str,
        languages: Sequence[str] = MGSM_LANGUAGES,
        prompt_template: str = DEFAULT_TEMPLATE,
        max_tokens: int = 256,
        stop: Sequence[str] = ("\nQuestion:", "\n\n\n"),
        dev_fraction: float = 0.3,
        split_seed: int = 0,
    ) -> None:
        if "{question}" not in prompt_template:
            raise BenchmarkError("mgsm prompt_template must contain '{question}'")
        if not languages:
            raise BenchmarkError("mgsm: 'languages' is empty")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.languages = list(languages)
        self.prompt_template = prompt_template
        self.max_tokens = int(max_tokens)
        self.stop = tuple(stop)
        self.dev_fraction = check_fraction(dev_fraction)
        self.split_seed = int(split_seed)

    def categories(self) -> list[str]:
        return list(self.languages)

    def load(self, split: str) -> list[Item]:
        check_split(split)
        items: list[Item] = []
        for lang in self.languages:
            rows = read_mgsm_tsv(self.data_dir / f"mgsm_{lang}.tsv")
            for index, (question, answer) in enumerate(rows):
                # The split key is the row index, so parallel translations share a side.
                if not in_split(f"mgsm_{index}", split, self.dev_fraction, self.split_seed):
                    continue
                items.append(Item(id=f"mgsm_{lang}_{index}", category=lang,
                                  prompt=self.prompt_template.format(question=question), answer=answer))
        return items

    def request(self, item: Item) -> GenRequest:
        return GenRequest(prompt=item.prompt, max_tokens=self.max_tokens, stop=self.stop)

    def score(self, item: Item, completion: str) -> float:
        return score_number(completion, item.answer)

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        """MGSM reports the unweighted mean accuracy over languages."""
        return macro_mean(per_category)
