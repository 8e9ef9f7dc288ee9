"""BFCL multi-turn: gold conversations played through our episode loop pass bfcl's checker,
wrong ones fail, episodes are isolated from each other and never execute non-backend calls."""

from __future__ import annotations

import ast
import os

import pytest

from soce_bo.evaluate.benchmarks.bfcl import MULTI_TURN_CATEGORIES, BFCLBenchmark
from soce_bo.evaluate.runner import evaluate_items
from soce_bo.evaluate.subset import round_robin_subset


def keyword_calls(calls: list[str], functions: list[dict]) -> str:
    """Gold calls as one prompt-mode answer; positional args named (the decoder reads keywords only)."""
    order = {f["name"]: list(f["parameters"]["properties"]) for f in functions}
    out = []
    for call in calls:
        node = ast.parse(call, mode="eval").body
        names = order[node.func.id]
        node.keywords = [ast.keyword(arg=names[i], value=a) for i, a in enumerate(node.args)] + node.keywords
        node.args = []
        out.append(ast.unparse(node))
    return "[" + ", ".join(out) + "]"


def all_docs(item) -> list[dict]:
    entry = item.meta["entry"]
    return entry["function"] + [f for fs in entry.get("missed_function", {}).values() for f in fs]


def play(item, bench, answers: list[list[str]]) -> float:
    """Answer each turn with the given calls in one step, then with plain text (= turn done)."""
    episode = bench.start_episode(item)
    for calls in answers:
        if calls:
            episode.observe(keyword_calls(calls, all_docs(item)))
        episode.observe("Done, anything else?")
    assert episode.done
    return episode.score()


@pytest.fixture(scope="module")
def bench() -> BFCLBenchmark:
    return BFCLBenchmark(categories=["multi_turn"], dev_fraction=0.0)


@pytest.fixture(scope="module")
def items(bench):
    return round_robin_subset(bench.load("all"), 40 * len(MULTI_TURN_CATEGORIES))  # 40 per category


def test_gold_conversations_pass(bench, items):
    by_category: dict[str, list[float]] = {}
    for item in items:
        by_category.setdefault(item.category, []).append(play(item, bench, item.answer))
    assert set(by_category) == set(MULTI_TURN_CATEGORIES)
    for category, scores in by_category.items():
        assert len(scores) == 40 and sum(scores) / len(scores) >= 0.99, (category, scores)


def test_wrong_conversations_fail(bench, items):
    for item in [it for it in items if it.category == "multi_turn_base"][:10]:
        skip_last_turn = [*item.answer[:-1], []]
        assert play(item, bench, skip_last_turn) == 0.0, item.id
        silent = [[] for _ in item.answer]
        assert play(item, bench, silent) == 0.0, item.id


def test_same_item_twice_starts_from_fresh_state(bench, items):
    item = items[0]
    first, second = play(item, bench, item.answer), play(item, bench, item.answer)
    assert first == second == 1.0
    from soce_bo.evaluate.benchmarks.bfcl.multi_turn import _bfcl_mt

    assert not [k for k in _bfcl_mt()[0].__dict__ if k.startswith("soce_")]


def test_calls_outside_the_backends_are_not_executed(bench, items, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    episode = bench.start_episode(items[0])
    episode.observe("[open(file='pwned.txt', mode='w'), ls(a=True)]")
    tool_results = [m["content"] for m in episode.messages if m["role"] == "ipython"]
    assert tool_results[0] == "Error during execution: name 'open' is not defined"
    assert "pwned" not in tool_results[1] and tool_results[1].startswith("{")
    assert not os.path.exists(tmp_path / "pwned.txt")
    episode.release()


class ScriptedBackend:
    """Stand-in for the model server: answers a fresh user turn with its gold calls, else text."""

    USER = "<|start_header_id|>user<|end_header_id|>\n\n"

    def __init__(self, items):
        self.script = {it.meta["entry"]["question"][t][0]["content"].strip(): (it, t)
                       for it in items for t in range(len(it.answer))}
        self.calls = 0

    def generate(self, requests, progress=None):
        self.calls += 1
        out = []
        for req in requests:
            last_turn = req.prompt.rsplit(self.USER, 1)[1]
            user_text = last_turn.split("<|eot_id|>", 1)[0]
            fresh = last_turn.count("<|start_header_id|>assistant") == 1
            if user_text not in self.script:  # a single-turn item: answer with no call
                out.append("All done.")
                continue
            item, turn = self.script[user_text]
            gold = item.answer[turn]
            out.append(keyword_calls(gold, all_docs(item)) if fresh and gold else "All done.")
        return out


def test_evaluation_loop_batches_single_and_multi_turn(bench):
    mixed = BFCLBenchmark(categories=["simple_python", "multi_turn_base"], dev_fraction=0.0)
    items = round_robin_subset(mixed.load("all"), 6)  # 3 per category
    backend = ScriptedBackend([it for it in items if it.category == "multi_turn_base"])
    result = evaluate_items(mixed, backend, items, show_progress=False)
    assert set(result.per_category) == {"simple_python", "multi_turn_base"}
    assert result.per_category["simple_python"].accuracy == 0.0  # "All done." is no call
    assert result.per_category["multi_turn_base"].n == 3
    assert result.per_category["multi_turn_base"].accuracy == 1.0
    turns = max(len(it.answer) for it in items)
    assert backend.calls <= 1 + 2 * turns  # one batched call per conversation step, not per item


def test_conversation_outgrowing_the_window_fails_the_item(tmp_path):
    from soce_bo.zoo.tokenizer import build_tokenizer

    build_tokenizer().save_pretrained(str(tmp_path))
    probe = BFCLBenchmark(categories=["multi_turn_base"], dev_fraction=0.0, chat_format="plain")
    item = probe.load("all")[0]
    first_prompt = probe.start_episode(item).next_request().prompt
    bench = BFCLBenchmark(categories=["multi_turn_base"], dev_fraction=0.0,
                          chat_format="plain", tokenizer_path=str(tmp_path), max_tokens=16,
                          max_prompt_tokens=len(first_prompt) + 16 + 50)
    episode = bench.start_episode(item)
    assert episode.next_request() is not None
    episode.observe(keyword_calls(item.answer[0], all_docs(item)))  # tool results push it past the limit
    assert episode.next_request() is None and episode.overflow and episode.done
    assert episode.score() == 0.0
