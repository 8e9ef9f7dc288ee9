"""BFCL prompts as its OSS "prompt mode" handlers build them: BFCL system prompt + a chat format.

The system prompt (persona, the `[func(arg=value)]` output format, the function docs as JSON with
BFCL's language hints) comes from bfcl-eval's own `system_prompt_pre_processing_chat_model`.
BFCL's local handlers then render the messages with the model's chat template and send raw text
to /v1/completions; our backends take raw text too, so the same rendering happens here:

- "llama3": BFCL's LlamaHandler format (header tokens, tool results as role `ipython`) -- the
  format of the paper's Llama-3 candidates (xLAM-2, watt-tool, ToolACE, CoALM are Llama-3 based);
- "hf": the tokenizer's own `apply_chat_template` (BFCL's QuickTestingOSSHandler), from
  `tokenizer_path`; tool results keep role `tool` as BFCL's OSSHandler stores them;
- "plain": `ROLE: content` blocks, for toy models without a chat template (the tiny zoo).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from typing import Any

from soce_bo.errors import BenchmarkError
from soce_bo.evaluate.benchmarks.bfcl import checker  # noqa: F401  (sets BFCL_PROJECT_ROOT before bfcl_eval is imported)

CHAT_FORMATS = ("llama3", "hf", "plain")
STOPS = {"llama3": ("<|eot_id|>",), "hf": (), "plain": ("\nUSER:", "\nTOOL:")}


@cache
def _load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except Exception as err:  # OSError / ValueError depending on what is missing
        raise BenchmarkError(f"cannot load tokenizer from {path!r}: {err}") from None


class ChatFormat:
    """Render message lists to one prompt string; count tokens when a tokenizer is configured."""

    def __init__(self, name: str, tokenizer_path: str | None = None) -> None:
        if name not in CHAT_FORMATS:
            raise BenchmarkError(f"bfcl chat_format {name!r} is not one of {', '.join(CHAT_FORMATS)}")
        if name == "hf" and not tokenizer_path:
            raise BenchmarkError("bfcl chat_format 'hf' needs tokenizer_path (a local HF tokenizer folder)")
        self.name = name
        self.tokenizer_path = tokenizer_path

    @property
    def tokenizer(self) -> Any:
        if not self.tokenizer_path:
            raise BenchmarkError("bfcl: counting prompt tokens needs tokenizer_path")
        return _load_tokenizer(self.tokenizer_path)

    @property
    def stop(self) -> tuple[str, ...]:
        return STOPS[self.name]

    @property
    def tool_role(self) -> str:
        """Role of execution results in multi-turn prompts (Llama-3 uses `ipython`)."""
        return "ipython" if self.name == "llama3" else "tool"

    def render(self, messages: Sequence[dict[str, Any]]) -> str:
        if self.name == "llama3":
            body = "".join(
                f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{str(m['content']).strip()}<|eot_id|>"
                for m in messages
            )
            return f"<|begin_of_text|>{body}<|start_header_id|>assistant<|end_header_id|>\n\n"
        if self.name == "hf":
            return self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        body = "".join(f"{m['role'].upper()}: {str(m['content']).strip()}\n" for m in messages)
        return f"{body}ASSISTANT:"

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def first_turn_messages(entry: dict[str, Any], hinted_functions: list[dict]) -> list[dict[str, Any]]:
    """BFCL's first-turn messages with its system prompt (function docs) prepended or merged."""
    from bfcl_eval.model_handler.utils import system_prompt_pre_processing_chat_model

    messages = copy.deepcopy(entry["question"][0])
    return system_prompt_pre_processing_chat_model(messages, copy.deepcopy(hinted_functions), entry["id"])


def hinted_functions(entry: dict[str, Any]) -> list[dict]:
    """Function docs as the model sees them: with BFCL's Python/Java/JavaScript syntax hints.

    The checker must get the docs *without* hints (Java/JS types are rewritten to "string" in
    the hinted copy), so the hint is applied to a copy, as bfcl's generate/evaluate split does.
    """
    from bfcl_eval.utils import add_language_specific_hint_to_function_doc

    return add_language_specific_hint_to_function_doc([copy.deepcopy(entry)])[0]["function"]
