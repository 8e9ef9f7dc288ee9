"""The toy categories: deterministic, self-consistent answers, and prompts that fit 512 tokens."""

from __future__ import annotations

import random

import pytest

from soce_bo.evaluate.benchmarks.bfcl.checker import ast_check, decode_python_calls
from soce_bo.zoo.tasks import CATEGORIES, sample_example
from soce_bo.zoo.tasks import arithmetic, toy_language
from soce_bo.zoo.tokenizer import BOS_ID, EOS_ID, UNK_ID, build_tokenizer, encode

MAX_MODEL_LEN = 512


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_seed_same_examples(category):
    a = [sample_example(category, random.Random(7)) for _ in range(3)]
    b = [sample_example(category, random.Random(7)) for _ in range(3)]
    assert a == b


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("train", [False, True])
def test_examples_fit_context_and_are_plain_ascii(category, train):
    rng = random.Random(1)
    for _ in range(300):
        ex = sample_example(category, rng, train=train)
        text = ex.prompt + ex.answer
        assert 1 + len(encode(text)) + 1 <= MAX_MODEL_LEN  # <bos> + chars + <eos>
        assert UNK_ID not in encode(text)
        assert "\n" not in ex.answer and ex.answer == ex.answer.strip() and ex.answer


def test_tool_gold_call_passes_bfcl_checker_and_a_wrong_one_fails():
    rng = random.Random(3)
    for _ in range(100):
        ex = sample_example("tool", rng)
        fns, gold = ex.meta["functions"], ex.meta["possible_answer"]
        assert ast_check(fns, decode_python_calls(ex.answer), gold, "multiple")[0], ex
        other = next(f["name"] for f in fns if f["name"] not in gold[0])
        assert not ast_check(fns, [{other: {}}], gold, "multiple")[0]


def test_math_answer_matches_the_operation():
    rng = random.Random(4)
    for _ in range(200):
        prompt, answer, meta = arithmetic.sample(rng)
        a, b = (int(w) for w in prompt.replace("?", " ").replace(".", " ").split() if w.isdigit())
        expected = {"add": a + b, "sub": a - b, "mul": a * b}[meta["operation"]]
        assert int(answer) == expected, prompt


def test_toy_language_rules():
    """Verb last; noun, adjective, article inside a noun phrase."""
    rng = random.Random(5)
    for _ in range(100):
        prompt, answer, meta = toy_language.sample(rng)
        words = meta["source"].split()
        verb = next(w for w in words if w in toy_language.VERBS)
        assert answer.split()[-1] == toy_language.VERBS[verb]
        art, *rest = words[: words.index(verb)]
        noun = rest[-1]
        assert answer.split()[0] == toy_language.NOUNS[noun]
        assert toy_language.ARTICLES[art] in answer.split()[1:3]


def test_retrieve_answer_is_the_value_of_the_queried_key():
    rng = random.Random(6)
    for _ in range(100):
        ex = sample_example("retrieve", rng)
        table, query = ex.prompt.removeprefix("kv: ").split("\nkey: ")
        entries = {e[0]: e[1] for e in table.split()}
        assert list(entries) == sorted(entries) and len(entries) == 20
        assert query == ex.meta["key"] and entries[ex.meta["key"]] == ex.answer


def test_tokenizer_is_char_level_with_bos_and_matches_the_training_fast_path():
    tok = build_tokenizer()
    text = "tools: f(a,b?)\nuser: x y\ncall: [f(a='x',b=2)]"
    ids = tok(text)["input_ids"]
    assert ids == [BOS_ID, *encode(text)]
    assert tok.decode([*ids, EOS_ID], skip_special_tokens=True) == text
    assert (tok.bos_token_id, tok.eos_token_id) == (BOS_ID, EOS_ID)
