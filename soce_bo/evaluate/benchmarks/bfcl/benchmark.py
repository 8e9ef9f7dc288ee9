"""BFCL (Berkeley Function-Calling Leaderboard) through bfcl-eval's own data, prompts and checkers.

Questions and gold answers come from the bfcl-eval wheel (offline). Prompts are BFCL's prompt-mode
system prompt + a chat format (`prompt.py`); completions are decoded with bfcl's
`default_decode_ast_prompting` and judged by bfcl's AST checker (via `checker.py`), relevance
exactly as bfcl's `_evaluate_single_relevance_entry` does. Multi-turn categories need a
conversation with executed tools: they are multi-step items (`soce_bo.evaluate.benchmark.
MultiStepBenchmark`), played by `multi_turn.py` episodes inside the one evaluation loop
(`soce_bo.evaluate.runner.evaluate_items`); request() refuses them.

BFCL has no dev/test split; SoCE must not select on what it reports, so items are split by a
seeded hash of their id (`dev_fraction` of each category goes to dev).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import CategoryScore, GenRequest, Item
from soce_bo.evaluate.benchmarks.files import check_fraction, check_split, in_split
from soce_bo.evaluate.benchmarks.bfcl.checker import ast_check, decode_python_calls
from soce_bo.evaluate.benchmarks.bfcl.multi_turn import MultiTurnEpisode
from soce_bo.evaluate.benchmarks.bfcl.overall import FORMULAS, bfcl_overall, bfcl_overall_report
from soce_bo.evaluate.benchmarks.bfcl.prompt import ChatFormat, first_turn_messages, hinted_functions

log = logging.getLogger(__name__)

AST_CATEGORIES = (
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
SUPPORTED = AST_CATEGORIES + RELEVANCE_CATEGORIES + MULTI_TURN_CATEGORIES
_MEMORY = ("is agentic (prerequisite conversations, memory snapshots on disk, agentic checker) and "
           "not implemented here")
REFUSED = {
    "web_search_base": "needs a SerpAPI key and internet access",
    "web_search_no_snippet": "needs a SerpAPI key and internet access",
    "memory_kv": _MEMORY,
    "memory_vector": "downloads a sentence-transformers model at import (network)",
    "memory_rec_sum": _MEMORY,
    "format_sensitivity": "is not a scored category",
    "web_search": "(group) needs a SerpAPI key and internet access",
    "memory": "(group) " + _MEMORY,
    "agentic": "(group) needs web search and the memory categories",
    "all": "(group) includes web_search and memory; use the group 'offline'",
    "all_scoring": "(group) includes web_search and memory; use the group 'offline'",
}
GROUPS = {
    "single_turn": AST_CATEGORIES + RELEVANCE_CATEGORIES,
    "non_live": AST_CATEGORIES[:6] + ("irrelevance",),
    "live": AST_CATEGORIES[6:] + ("live_irrelevance", "live_relevance"),
    "multi_turn": MULTI_TURN_CATEGORIES,
    "offline": SUPPORTED,
}
V3_ALIASES = {"simple": "simple_python", "java": "simple_java", "javascript": "simple_javascript"}


def resolve_categories(names: Sequence[str]) -> list[str]:
    """Expand groups and v3 aliases; refuse network-bound or unknown names with the reason."""
    out: list[str] = []
    for name in names:
        name = V3_ALIASES.get(name, name)
        if name in REFUSED:
            hint = "" if REFUSED[name].startswith("(group)") else "; bfcl-eval's own CLI can run it"
            raise BenchmarkError(f"BFCL category {name!r} {REFUSED[name]}{hint}")
        expanded = GROUPS.get(name, (name,))
        for cat in expanded:
            if cat not in SUPPORTED:
                raise BenchmarkError(f"unknown BFCL category {cat!r}; supported: {', '.join(SUPPORTED)} "
                                     f"or groups {', '.join(GROUPS)}")
            if cat not in out:
                out.append(cat)
    if not out:
        raise BenchmarkError("bfcl: 'categories' is empty")
    return out


def language_of(category: str) -> str:
    return {"simple_java": "java", "simple_javascript": "javascript"}.get(category, "python")


@cache
def _bfcl_utils() -> Any:
    import bfcl_eval.utils as utils

    return utils


def load_entries(category: str) -> list[dict[str, Any]]:
    """bfcl's prompt entries without language hints (checker view), gold attached as 'ground_truth'."""
    utils = _bfcl_utils()
    entries = utils.load_dataset_entry(category, include_prereq=False, include_language_specific_hint=False)
    if category not in RELEVANCE_CATEGORIES:
        gold = {g["id"]: g["ground_truth"] for g in utils.load_ground_truth_entry(category)}
        for entry in entries:
            entry["ground_truth"] = gold[entry["id"]]
    return entries


def score_ast_completion(completion: str, functions: list[dict], possible_answer: list[dict], category: str) -> float:
    """1.0 iff bfcl decodes the completion and its AST checker accepts the calls."""
    language = language_of(category)
    try:
        calls = decode_python_calls(completion, language)
    except ValueError:
        return 0.0
    if not _bfcl_utils().is_function_calling_format_output(calls):
        return 0.0
    valid, _ = ast_check(functions, calls, possible_answer, category, language)
    return float(valid)


def score_relevance(completion: str, category: str) -> float:
    """irrelevance: pass iff no decodable non-empty call; live_relevance: pass iff there is one."""
    try:
        has_call = not _bfcl_utils().is_empty_output(decode_python_calls(completion, "python"))
    except ValueError:
        has_call = False
    return float(has_call) if category == "live_relevance" else float(not has_call)


class BFCLBenchmark:
    """BFCL v4 categories; overall() is the configured formula, overall_report() all variants."""

    name = "bfcl"

    def __init__(
        self,
        categories: Sequence[str] = GROUPS["single_turn"],
        dev_fraction: float = 0.3,
        split_seed: int = 0,
        max_tokens: int = 512,
        chat_format: str = "llama3",
        tokenizer_path: str | None = None,
        max_prompt_tokens: int | None = None,
        overall_formula: str = "v4_offline",
        renormalise: bool = True,
        multi_turn_max_steps: int = 20,
    ) -> None:
        if overall_formula not in FORMULAS:
            raise BenchmarkError(f"bfcl overall_formula {overall_formula!r} is not one of {FORMULAS}")
        if max_prompt_tokens is not None and not tokenizer_path:
            raise BenchmarkError("bfcl max_prompt_tokens needs tokenizer_path to count tokens")
        self._categories = resolve_categories(categories)
        self.dev_fraction = check_fraction(dev_fraction)
        self.split_seed = int(split_seed)
        self.max_tokens = int(max_tokens)
        self.chat = ChatFormat(chat_format, tokenizer_path)
        self.max_prompt_tokens = max_prompt_tokens
        self.overall_formula = overall_formula
        self.renormalise = bool(renormalise)
        self.multi_turn_max_steps = int(multi_turn_max_steps)
        self.skipped: dict[str, dict[str, int]] = {}
        """split -> category -> items dropped because the prompt exceeded max_prompt_tokens."""

    def categories(self) -> list[str]:
        return list(self._categories)

    def _fits(self, prompt: str) -> bool:
        limit = self.max_prompt_tokens
        return limit is None or self.chat.count_tokens(prompt) + self.max_tokens <= limit

    def load(self, split: str) -> list[Item]:
        check_split(split)
        items: list[Item] = []
        self.skipped[split] = {}
        for category in self._categories:
            for entry in load_entries(category):
                if not in_split(entry["id"], split, self.dev_fraction, self.split_seed):
                    continue
                item = self._item(category, entry)
                if item.prompt and not self._fits(item.prompt):
                    self.skipped[split][category] = self.skipped[split].get(category, 0) + 1
                    continue
                items.append(item)
        dropped = sum(self.skipped[split].values())
        if dropped:
            log.warning("bfcl %s: skipped %d item(s) whose prompt + max_tokens exceed %d tokens: %s",
                        split, dropped, self.max_prompt_tokens, self.skipped[split])
        return items

    def _item(self, category: str, entry: dict[str, Any]) -> Item:
        if category in MULTI_TURN_CATEGORIES:
            # The prompt grows turn by turn with executed tool results; multi_turn.py builds it.
            return Item(id=entry["id"], category=category, prompt="", answer=entry["ground_truth"],
                        meta={"entry": entry, "multi_turn": True})
        prompt = self.chat.render(first_turn_messages(entry, hinted_functions(entry)))
        return Item(id=entry["id"], category=category, prompt=prompt, answer=entry.get("ground_truth"),
                    meta={"functions": entry["function"]})

    def request(self, item: Item) -> GenRequest:
        if item.meta.get("multi_turn"):
            raise BenchmarkError(
                f"BFCL item {item.id} ({item.category}) is multi-turn: evaluate it with "
                "soce_bo.evaluate.runner.evaluate_items (it plays the conversation), not one request"
            )
        return GenRequest(prompt=item.prompt, max_tokens=self.max_tokens, stop=self.chat.stop)

    def score(self, item: Item, completion: str) -> float:
        if item.category in RELEVANCE_CATEGORIES:
            return score_relevance(completion, item.category)
        if item.category in AST_CATEGORIES:
            return score_ast_completion(completion, item.meta["functions"], item.answer, item.category)
        raise BenchmarkError(f"BFCL item {item.id} ({item.category}) is multi-turn and is scored per conversation")

    def is_multi_step(self, item: Item) -> bool:
        """Multi-turn items are conversations, not one request (see `runner.run_episodes`)."""
        return bool(item.meta.get("multi_turn"))

    def start_episode(self, item: Item) -> MultiTurnEpisode:
        """A resumable conversation for a multi-turn item: next_request() / observe(text) / score()."""
        return MultiTurnEpisode(item, self.chat, max_tokens=self.max_tokens,
                                max_prompt_tokens=self.max_prompt_tokens, max_steps=self.multi_turn_max_steps)

    def overall(self, per_category: Mapping[str, CategoryScore]) -> float:
        """The configured formula (default: v4 without Agentic, renormalised over what was run)."""
        acc = {c: s.accuracy for c, s in per_category.items()}
        return bfcl_overall(acc, self.overall_formula, renormalise=self.renormalise)

    def overall_report(self, per_category: Mapping[str, CategoryScore]) -> dict:
        """All formulas (v4, v4_offline, v3), official and renormalised, with missing categories."""
        report = bfcl_overall_report({c: s.accuracy for c, s in per_category.items()})
        report["configured"] = {"formula": self.overall_formula, "renormalise": self.renormalise}
        return report
