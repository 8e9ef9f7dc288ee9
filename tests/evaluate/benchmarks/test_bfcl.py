"""BFCL single-turn path: bfcl-eval's gold answers, rendered as model text, must pass our path
(prompt-mode decode + bfcl's AST checker); perturbed ones must fail; relevance is decided as bfcl does."""

from __future__ import annotations

import copy
import json
import re

import pytest

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmark import Benchmark
from soce_bo.evaluate.benchmarks.bfcl.benchmark import (
    AST_CATEGORIES,
    BFCLBenchmark,
    load_entries,
    resolve_categories,
    score_ast_completion,
    score_relevance,
)
from soce_bo.evaluate.subset import round_robin_subset

PYTHON_AST = [c for c in AST_CATEGORIES if c not in ("simple_java", "simple_javascript")]


# ---- rendering gold answers ({func: {arg: [accepted values]}}) as model output ----------------

def _pick(options: list) -> tuple[bool, object]:
    """First accepted value that is not bfcl's "" (= parameter may be omitted)."""
    for option in options:
        if option != "":
            return True, _literal(option)
    return False, None


def _literal(value: object) -> object:
    if isinstance(value, dict):  # nested dicts map keys to lists of accepted values too
        return {k: v for k, (ok, v) in ((k, _pick(o if isinstance(o, list) else [o])) for k, o in value.items()) if ok}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def render_python(gold: list[dict]) -> str:
    calls = []
    for call in gold:
        (name, args), = call.items()
        parts = [f"{k}={v!r}" for k, (ok, v) in ((k, _pick(o)) for k, o in args.items()) if ok]
        calls.append(f"{name}({', '.join(parts)})")
    return "[" + ", ".join(calls) + "]"


def _java(value: object, typ: str | None = None, items: dict | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value}L" if typ == "long" else f"{value}f" if typ == "float" else repr(value)
    if isinstance(value, str):
        if typ == "element" and re.fullmatch(r"[\w./-]+", value):
            return value  # bfcl's Array<String> converter keeps quotes, so arrays hold bare words
        return value if value.startswith("new ") and '"' in value else json.dumps(value)
    if isinstance(value, list):
        item_type = (items or {}).get("type")
        if typ == "Array":
            inner = ", ".join(_java(v, "element" if isinstance(v, str) else item_type) for v in value)
            return f"new {'int' if item_type == 'integer' else item_type}[]{{{inner}}}"
        return f"new ArrayList<>(Arrays.asList({', '.join(_java(v, item_type) for v in value)}))"
    if isinstance(value, dict):
        puts = " ".join(f"put({json.dumps(k)}, {_java(v)});" for k, v in value.items())
        return f"new HashMap<String, String>() {{{{ {puts} }}}}"
    raise TypeError(value)


def _javascript(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_javascript(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {_javascript(v)}" for k, v in value.items()) + "}"


def render_typed(gold: list[dict], functions: list[dict], language: str) -> str:
    docs = {f["name"]: f["parameters"]["properties"] for f in functions}
    calls = []
    for call in gold:
        (name, args), = call.items()
        parts = []
        for key, options in args.items():
            ok, value = _pick(options)
            if ok:
                prop = docs[name][key]
                text = _java(value, prop["type"], prop.get("items")) if language == "java" else _javascript(value)
                parts.append(f"{key}={text}")
        calls.append(f"{name}({', '.join(parts)})")
    return "[" + ", ".join(calls) + "]"


def _gold_pass_rate(category: str, render) -> tuple[float, list[str]]:
    entries = load_entries(category)
    failed = [e["id"] for e in entries
              if score_ast_completion(render(e), e["function"], e["ground_truth"], category) != 1.0]
    return 1 - len(failed) / len(entries), failed


# ---- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("category", PYTHON_AST)
def test_gold_answers_pass_python_categories(category):
    rate, failed = _gold_pass_rate(category, lambda e: render_python(e["ground_truth"]))
    assert rate >= 0.99, (category, rate, failed[:10])


def test_gold_answers_pass_javascript():
    rate, failed = _gold_pass_rate("simple_javascript",
                                   lambda e: render_typed(e["ground_truth"], e["function"], "javascript"))
    assert rate >= 0.99, failed


def test_gold_answers_pass_java_up_to_bfcl_converter_limits():
    """Java is lower by construction: bfcl's tree-sitter traversal drops HashMap `{{ put(..) }}`
    bodies and its Array/ArrayList converters mis-handle quoted or mixed-type elements, so 7 gold
    answers cannot be written as any Java text the converter maps back to the gold value."""
    rate, failed = _gold_pass_rate("simple_java", lambda e: render_typed(e["ground_truth"], e["function"], "java"))
    assert rate >= 0.92, failed


def _perturb(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7919
    if isinstance(value, str):
        return value + " zz"
    if isinstance(value, list):
        return [*value, value[0] if value else 1]
    return {**value, "zz_extra": 1}


@pytest.mark.parametrize("category", PYTHON_AST)
def test_wrong_value_or_function_name_is_rejected(category):
    checked = 0
    for entry in load_entries(category)[:60]:
        gold = entry["ground_truth"]
        (name, args), = gold[0].items()
        required = [k for k, options in args.items() if "" not in options]
        if not required:
            continue
        wrong_value = copy.deepcopy(gold)
        wrong_value[0][name][required[0]] = [_perturb(_pick(args[required[0]])[1])]
        wrong_name = copy.deepcopy(gold)
        wrong_name[0] = {name + "_x": gold[0][name]}
        for bad in (wrong_value, wrong_name):
            assert score_ast_completion(render_python(bad), entry["function"], gold, category) == 0.0, (entry["id"], bad)
        checked += 1
    assert checked >= 10


def test_undecodable_or_chatty_output_scores_zero():
    entry = load_entries("simple_python")[0]
    for text in ("Sure! The area is 25.", "", "[calculate_triangle_area(base=10, height=5"):
        assert score_ast_completion(text, entry["function"], entry["ground_truth"], "simple_python") == 0.0


def test_relevance_rules_follow_bfcl():
    no_call, call, empty = "I cannot help with that; no function fits.", "[get_weather(city='Paris')]", "[]"
    for category in ("irrelevance", "live_irrelevance"):
        assert score_relevance(no_call, category) == 1.0
        assert score_relevance(empty, category) == 1.0
        assert score_relevance(call, category) == 0.0
    assert score_relevance(call, "live_relevance") == 1.0
    assert score_relevance(no_call, "live_relevance") == 0.0
    assert score_relevance(empty, "live_relevance") == 0.0


@pytest.mark.parametrize("name", ["web_search_base", "memory_vector", "memory_kv", "format_sensitivity", "exec_simple"])
def test_network_bound_or_unknown_categories_are_refused_by_name(name):
    with pytest.raises(BenchmarkError, match=name):
        BFCLBenchmark(categories=[name])


def test_groups_and_v3_aliases_expand():
    assert resolve_categories(["simple", "java", "multi_turn"]) == [
        "simple_python", "simple_java", "multi_turn_base", "multi_turn_miss_func",
        "multi_turn_miss_param", "multi_turn_long_context"]
    assert len(resolve_categories(["offline"])) == 17


def test_hashed_split_is_disjoint_complete_and_stable():
    bench = BFCLBenchmark(categories=["simple_python", "irrelevance"], dev_fraction=0.3, split_seed=0)
    assert isinstance(bench, Benchmark)
    dev, test, every = ({it.id for it in bench.load(s)} for s in ("dev", "test", "all"))
    assert dev.isdisjoint(test) and dev | test == every and len(every) == 640
    assert 0.25 < len(dev) / len(every) < 0.35
    assert {it.id for it in BFCLBenchmark(categories=["simple_python", "irrelevance"]).load("dev")} == dev
    other_seed = {it.id for it in BFCLBenchmark(categories=["simple_python", "irrelevance"], split_seed=1).load("dev")}
    assert other_seed != dev


def test_prompt_is_bfcl_system_prompt_in_llama3_format_and_scores_end_to_end():
    bench = BFCLBenchmark(categories=["simple_python", "irrelevance"], max_tokens=128)
    items = round_robin_subset(bench.load("test"), 6)
    assert [it.category for it in items] == ["simple_python"] * 3 + ["irrelevance"] * 3
    first = items[0]
    req = bench.request(first)
    assert req.max_tokens == 128 and "<|eot_id|>" in req.stop
    assert req.prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")
    assert "[func_name1(params_name1=params_value1" in req.prompt
    assert f'"name": "{first.meta["functions"][0]["name"]}"' in req.prompt
    assert "Note that the provided function is in Python 3 syntax." in req.prompt
    assert req.prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert bench.score(first, render_python(first.answer)) == 1.0
    assert bench.score(items[3], "I cannot answer that with these functions.") == 1.0


def test_plain_chat_format_and_limits():
    bench = BFCLBenchmark(categories=["live_simple"], chat_format="plain")
    items = round_robin_subset(bench.load("all"), 2)
    assert len(items) == 2 and items[0].prompt.startswith("SYSTEM: ") and items[0].prompt.endswith("ASSISTANT:")
    with pytest.raises(BenchmarkError, match="chat_format"):
        BFCLBenchmark(chat_format="chatml")
    with pytest.raises(BenchmarkError, match="tokenizer_path"):
        BFCLBenchmark(max_prompt_tokens=512)
    with pytest.raises(BenchmarkError, match="multi-turn"):
        multi = BFCLBenchmark(categories=["multi_turn_base"])
        multi.request(multi.load("all")[0])


@pytest.fixture(scope="module")
def char_tokenizer(tmp_path_factory):
    """A local char-level tokenizer (the zoo's) with a toy chat template; no hub access."""
    from soce_bo.zoo.tokenizer import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}<assistant>"
    out = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(str(out))
    return str(out)


def test_prompts_over_the_context_window_are_skipped_and_counted(char_tokenizer):
    kwargs = dict(categories=["simple_python", "irrelevance"], chat_format="hf",
                  tokenizer_path=char_tokenizer, max_tokens=64)
    full = BFCLBenchmark(**kwargs).load("dev")
    assert full[0].prompt.startswith("<system>You are an expert in composing functions.")
    assert full[0].prompt.endswith("<assistant>")
    lengths = sorted(len(it.prompt) for it in full)  # char tokenizer: one token per character
    limit = lengths[len(lengths) // 2] + 64
    bench = BFCLBenchmark(**kwargs, max_prompt_tokens=limit)
    kept = bench.load("dev")
    skipped = sum(bench.skipped["dev"].values())
    assert kept and skipped and all(len(it.prompt) + 64 <= limit for it in kept)
    assert len(kept) + skipped >= len(full)  # every item is either kept or counted as skipped


def test_decoder_never_runs_code_hidden_in_arithmetic_arguments(tmp_path):
    """bfcl's decoder evals BinOp arguments; such output must be refused, not executed."""
    from soce_bo.evaluate.benchmarks.bfcl.checker import decode_python_calls as decode_calls

    target = tmp_path / "pwned.txt"
    attack = f"[calculate_triangle_area(base=open(file={str(target)!r}, mode='w').write('x') + 10, height=5)]"
    entry = load_entries("simple_python")[0]
    for category in ("simple_python", "irrelevance", "live_relevance"):
        score = (score_ast_completion(attack, entry["function"], entry["ground_truth"], category)
                 if category == "simple_python" else score_relevance(attack, category))
        assert score == (1.0 if category == "irrelevance" else 0.0)
    assert not target.exists()
    assert decode_calls("[f(x=3*4, y='a' + 'b', z=-2)]") == [{"f": {"x": 12, "y": "ab", "z": -2}}]
