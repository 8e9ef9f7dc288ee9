"""bfcl-eval's decoder and checker through our import shim, including the code-execution guard."""

from pathlib import Path

import pytest

from soce_bo.evaluate.benchmarks.bfcl.checker import ast_check, decode_python_calls

FUNCS = [{"name": "get_weather", "description": "weather",
          "parameters": {"type": "dict", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                         "required": ["city"]}}]
GOLD = [{"get_weather": {"city": ["paris"], "days": [3, ""]}}]


def test_decode_and_check_valid_and_wrong():
    assert decode_python_calls("[get_weather(city='paris', days=3)]") == [{"get_weather": {"city": "paris", "days": 3}}]
    assert ast_check(FUNCS, decode_python_calls("get_weather(city='paris')"), GOLD)[0]
    ok, err = ast_check(FUNCS, decode_python_calls("[get_weather(city='rome')]"), GOLD)
    assert not ok and "city" in err


def test_constant_arithmetic_still_decodes_like_bfcl():
    assert decode_python_calls("[get_weather(city='paris', days=1+2)]")[0]["get_weather"]["days"] == 3


@pytest.mark.parametrize("payload", [
    "[get_weather(city='x', days=open('{p}', 'w').write('hi') + 1)]",
    "[get_weather(city='x', days=(lambda: open('{p}', 'w'))())]",
    "[get_weather(city='x', days=__import__('os').system('touch {p}') * 1)]",
])
def test_model_output_is_never_executed(tmp_path: Path, payload: str):
    target = tmp_path / "pwned"
    with pytest.raises(ValueError):
        decode_python_calls(payload.format(p=target))
    assert not target.exists()


def test_undecodable_text_is_value_error():
    with pytest.raises(ValueError, match="not a list of function calls"):
        decode_python_calls("the weather is nice")


def test_a_number_glued_to_a_word_in_model_output_prints_no_parser_warning():
    """`msg=3in` makes Python's parser warn (invalid decimal literal); it must fail quietly, not print per completion."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for text in ("[send_text(to='ana',msg=3in)]", "[set_alarm(hour=7,minute=1if 1 else 2)]"):
            try:
                decode_python_calls(text)
            except ValueError:
                pass
    assert not [w for w in caught if issubclass(w.category, SyntaxWarning)], [str(w.message) for w in caught]
