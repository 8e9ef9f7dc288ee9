"""FLORES translation: one category per language pair, sentence chrF per item, corpus BLEU/chrF aside.

Reads the plain-text releases from a local folder: FLORES-200 (`dev/eng_Latn.dev`,
`devtest/eng_Latn.devtest`), FLORES+ text (`dev/dev.eng_Latn`) or bare `dev/eng_Latn`; lines are
aligned across languages. FLORES has a real dev and devtest set, so split "dev" reads `dev/` and
"test" reads `devtest/` (no hashing). The per-item score feeding the per-category mean is sentence
chrF/100 (BLEU is unstable on single sentences); the paper's table reports corpus BLEU, which
`corpus_scores` computes per pair from the same completions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sacrebleu

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item, macro_mean
from soce_bo.evaluate.benchmarks.files import check_split
from soce_bo.evaluate.benchmarks.scoring import first_line, score_bleu, score_chrf

LANGUAGE_NAMES = {
    "arb": "Arabic", "ben": "Bengali", "deu": "German", "eng": "English", "fra": "French",
    "hin": "Hindi", "ind": "Indonesian", "ita": "Italian", "jpn": "Japanese", "kor": "Korean",
    "por": "Portuguese", "rus": "Russian", "spa": "Spanish", "swh": "Swahili", "tgl": "Tagalog",
    "tha": "Thai", "tur": "Turkish", "vie": "Vietnamese", "zho_Hans": "Simplified Chinese",
    "zho_Hant": "Traditional Chinese",
}
DEFAULT_TEMPLATE = "Translate the following sentence from {src_name} to {tgt_name}.\n{src_name}: {source}\n{tgt_name}:"
_CHAR_TOKENIZED = ("jpn", "kor", "tha", "mya", "khm", "lao")


def language_name(code: str) -> str:
    """'deu_Latn' -> 'German'; unknown codes are used as they are."""
    return LANGUAGE_NAMES.get(code, LANGUAGE_NAMES.get(code.split("_")[0], code))


def bleu_tokenizer_for(target: str, setting: str) -> str:
    """sacrebleu tokenizer: 'auto' picks zh for Chinese, char for unsegmented scripts, else 13a."""
    if setting != "auto":
        return setting
    if target.startswith(("zho", "cmn", "yue")):
        return "zh"
    return "char" if target.startswith(_CHAR_TOKENIZED) else "13a"


def find_language_file(split_dir: Path, code: str) -> Path:
    """The text file of `code` in one split folder, whichever FLORES layout it uses."""
    for candidate in (split_dir / f"{code}.{split_dir.name}", split_dir / f"{split_dir.name}.{code}",
                      split_dir / code):
        if candidate.is_file():
            return candidate
    raise BenchmarkError(
        f"missing FLORES file for {code} in {split_dir} (looked for {code}.{split_dir.name}, "
        f"{split_dir.name}.{code}, {code}); no download at run time"
    )


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n").rstrip("\r") for line in fh]


class FloresBenchmark:
    """Per pair "src-tgt": mean sentence chrF/100 (or BLEU/100); overall = mean over pairs."""

    name = "flores"

    def __init__(
        self,
        data_dir: str,
        pairs: Sequence[str],
        split_dirs: Mapping[str, str] | None = None,
        prompt_template: str = DEFAULT_TEMPLATE,
        item_metric: str = "chrf",
        bleu_tokenize: str = "auto",
        max_tokens: int = 256,
        stop: Sequence[str] = ("\n",),
    ) -> None:
        if item_metric not in ("chrf", "bleu"):
            raise BenchmarkError(f"flores item_metric must be 'chrf' or 'bleu', got {item_metric!r}")
        if not pairs:
            raise BenchmarkError("flores: 'pairs' is empty")
        self.pairs = [self._parse_pair(p) for p in pairs]
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.split_dirs = dict(split_dirs or {"dev": "dev", "test": "devtest"})
        self.prompt_template = prompt_template
        self.item_metric = item_metric
        self.bleu_tokenize = bleu_tokenize
        self.max_tokens = int(max_tokens)
        self.stop = tuple(stop)

    @staticmethod
    def _parse_pair(pair: str) -> tuple[str, str]:
        parts = pair.split("-")
        if len(parts) != 2 or not all(parts):
            raise BenchmarkError(f"flores pair {pair!r} is not 'src-tgt' (e.g. eng_Latn-deu_Latn)")
        return parts[0], parts[1]

    def categories(self) -> list[str]:
        return [f"{s}-{t}" for s, t in self.pairs]

    def _split_folders(self, split: str) -> list[Path]:
        check_split(split)
        names = list(self.split_dirs.values()) if split == "all" else [self.split_dirs.get(split, "")]
        if not all(names):
            raise BenchmarkError(f"flores: no folder configured for split {split!r} (split_dirs={self.split_dirs})")
        return [self.data_dir / n for n in names]

    def load(self, split: str) -> list[Item]:
        items: list[Item] = []
        for folder in self._split_folders(split):
            cache: dict[str, list[str]] = {}
            for src, tgt in self.pairs:
                for code in (src, tgt):
                    if code not in cache:
                        cache[code] = read_lines(find_language_file(folder, code))
                sources, targets = cache[src], cache[tgt]
                if len(sources) != len(targets):
                    raise BenchmarkError(
                        f"flores {folder.name}: {src} has {len(sources)} lines but {tgt} has "
                        f"{len(targets)}; files must be aligned"
                    )
                for i in range(len(sources)):
                    prompt = self.prompt_template.format(
                        src_name=language_name(src), tgt_name=language_name(tgt), source=sources[i])
                    items.append(Item(id=f"flores_{folder.name}_{src}-{tgt}_{i}", category=f"{src}-{tgt}",
                                      prompt=prompt, answer=targets[i],
                                      meta={"source": sources[i], "target_lang": tgt}))
        return items

    def request(self, item: Item) -> GenRequest:
        return GenRequest(prompt=item.prompt, max_tokens=self.max_tokens, stop=self.stop)

    def hypothesis(self, completion: str) -> str:
        """The translation is the first non-empty line of the completion."""
        return first_line(completion)

    def score(self, item: Item, completion: str) -> float:
        hyp = self.hypothesis(completion)
        if self.item_metric == "chrf":
            return score_chrf(hyp, item.answer)
        return score_bleu(hyp, item.answer, tokenize=bleu_tokenizer_for(item.meta["target_lang"], self.bleu_tokenize))

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        return macro_mean(per_category)

    def corpus_scores(self, items: Sequence[Item], completions: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Corpus BLEU and chrF (sacrebleu, 0-100) per pair: the numbers MT papers report."""
        by_pair: dict[str, tuple[list[str], list[str], str]] = {}
        for item, completion in zip(items, completions, strict=True):
            hyps, refs, _ = by_pair.setdefault(item.category, ([], [], item.meta["target_lang"]))
            hyps.append(self.hypothesis(completion))
            refs.append(str(item.answer))
        out = {}
        for pair, (hyps, refs, tgt) in by_pair.items():
            tok = bleu_tokenizer_for(tgt, self.bleu_tokenize)
            out[pair] = {
                "bleu": sacrebleu.corpus_bleu(hyps, [refs], tokenize=tok).score,
                "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score,
                "n": len(hyps),
                "bleu_tokenize": tok,
            }
        return out
