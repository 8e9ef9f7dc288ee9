"""BFCL multi-turn categories: a conversation loop with bfcl's executable backends, batched.

A multi-turn item is not one request: per user turn the model is asked repeatedly, each decoded
call list is executed against bfcl's Python backends (file system, trading bot, ...), the results
are appended as tool messages, until the model answers with no call (then the next turn starts) or
exceeds bfcl's step limit (the whole item fails). This mirrors bfcl's
`BaseHandler.inference_multi_turn_prompting` + `OSSHandler`, but as a resumable `MultiTurnEpisode`
so that `run_episodes` can batch one step of every live conversation into one backend call (the
vLLM server stays busy). Scoring is bfcl's `multi_turn_checker` (state + response checks).
The episode knows only the chat format and the limits it is given, not the benchmark class, so
`benchmark.py` imports this module and nothing imports back.

Two deliberate differences from bfcl, both about safety and isolation:
- bfcl keeps backend instances in a module-global dict keyed by model name + item id, so a second
  evaluation of the same item in one process would resume the first one's state. Each episode uses
  a fresh unique name and deletes its instances after scoring.
- bfcl `eval`s the decoded call strings. We only execute calls whose every function name is a
  public method of the item's backend classes; anything else gets the error text bfcl's eval would
  give an undefined name, instead of reaching Python builtins such as `open`.
"""

from __future__ import annotations

import ast
import copy
import inspect
import uuid
from functools import cache
from typing import Any

from soce_bo.evaluate.benchmarks.bfcl.checker import decode_python_calls as decode_calls
from soce_bo.evaluate.benchmarks.bfcl.prompt import ChatFormat, first_turn_messages, hinted_functions
from soce_bo.values import GenRequest, Item


@cache
def _bfcl_mt() -> Any:
    import bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils as utils
    from bfcl_eval.constants.default_prompts import DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    from bfcl_eval.model_handler.utils import decoded_output_to_execution_list

    holdout_prompt = DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING
    return utils, multi_turn_checker, decoded_output_to_execution_list, holdout_prompt


def _call_names(call: str) -> set[str] | None:
    """Names of every function called in `call`; None if it has attribute access or odd syntax."""
    try:
        tree = ast.parse(call, mode="eval")
    except SyntaxError:
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            return None
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                return None
            names.add(node.func.id)
    return names


class MultiTurnEpisode:
    """One BFCL multi-turn conversation advanced one model call at a time (request/observe).

    Args:
        item: a multi-turn item of `BFCLBenchmark` (its bfcl entry in `meta["entry"]`).
        chat: the benchmark's chat format (renders the growing conversation).
        max_tokens: generation budget per model call.
        max_prompt_tokens: context window; a conversation that outgrows it fails (`overflow`).
        max_steps: bfcl's step limit per user turn.
    """

    def __init__(self, item: Item, chat: ChatFormat, max_tokens: int, max_prompt_tokens: int | None = None,
                 max_steps: int = 20) -> None:
        utils, _, _, self._holdout_prompt = _bfcl_mt()
        self.entry = copy.deepcopy(item.meta["entry"])
        self.item, self.chat = item, chat
        self.max_tokens, self.max_prompt_tokens, self.max_steps = int(max_tokens), max_prompt_tokens, int(max_steps)
        self.model_name = f"soce_{uuid.uuid4().hex}"  # private namespace for bfcl's backend instances
        self.long_context = "long_context" in item.category
        self.turns = copy.deepcopy(self.entry["question"])
        self.turns[0] = first_turn_messages(self.entry, hinted_functions(self.entry))
        self.messages: list[dict[str, Any]] = []
        self.responses: list[list[str]] = []
        self.turn = -1
        self.steps = 0
        self.force_quit = False
        self.overflow = False
        self.done = False
        _, instances = self._execute([])
        self.allowed = {name for inst in instances.values()
                        for name, _ in inspect.getmembers(inst, predicate=inspect.ismethod) if not name.startswith("_")}
        self._next_turn()

    def _execute(self, calls: list[str]) -> tuple[list[str], dict]:
        utils = _bfcl_mt()[0]
        return utils.execute_multi_turn_func_call(
            calls, self.entry.get("initial_config", {}), self.entry["involved_classes"], self.model_name,
            self.entry["id"], long_context=self.long_context, is_evaL_run=False)

    def _next_turn(self) -> None:
        self.turn += 1
        if self.turn >= len(self.turns):
            self.done = True
            return
        messages = self.turns[self.turn]
        holdout = self.entry.get("missed_function", {}).get(str(self.turn))
        if holdout:  # miss_func: the held-out docs arrive as this turn's user message
            messages = [{"role": "user", "content": self._holdout_prompt.format(functions=holdout)}]
        self.messages.extend(messages)
        self.responses.append([])
        self.steps = 0

    def next_request(self) -> GenRequest | None:
        """The next model call, or None when the conversation has ended (also on context overflow:
        bfcl's server call would fail there, so the item fails)."""
        if self.done:
            return None
        request = GenRequest(prompt=self.chat.render(self.messages), max_tokens=self.max_tokens,
                             stop=self.chat.stop)
        limit = self.max_prompt_tokens
        if limit is not None and self.chat.count_tokens(request.prompt) + request.max_tokens > limit:
            self.overflow = self.force_quit = self.done = True
            return None
        return request

    def observe(self, completion: str) -> None:
        _, _, to_exec, _ = _bfcl_mt()
        self.responses[-1].append(completion)
        self.messages.append({"role": "assistant", "content": completion})
        try:
            calls = to_exec(decode_calls(completion, "python"))
        except Exception:  # as bfcl: any decoding failure ends the turn
            calls = []
        if not calls or (len(calls) == 1 and not calls[0]):
            self._next_turn()  # no call: the model considers the turn finished
            return
        results = self._safe_execute(calls)
        for call, result in zip(calls, results):
            self.messages.append({"role": self.chat.tool_role, "name": call, "content": result})
        self.steps += 1
        if self.steps > self.max_steps:
            self.force_quit = self.done = True

    def _safe_execute(self, calls: list[str]) -> list[str]:
        results: list[str | None] = []
        runnable = []
        for call in calls:
            names = _call_names(call)
            if names is not None and names <= self.allowed:
                runnable.append(call)
                results.append(None)
            else:
                bad = sorted((names or {call.split("(")[0]}) - self.allowed) or [call.split("(")[0]]
                results.append(f"Error during execution: name '{bad[0]}' is not defined")
        executed = iter(self._execute(runnable)[0]) if runnable else iter(())
        return [r if r is not None else next(executed) for r in results]

    def score(self) -> float:
        """bfcl's multi_turn_checker verdict; a force-quit conversation fails as in bfcl."""
        _, checker, to_exec, _ = _bfcl_mt()
        try:
            if self.force_quit or len(self.responses) != len(self.item.answer):
                return 0.0
            decoded: list[list[list[str]]] = []
            for turn in self.responses:
                steps = []
                for text in turn:
                    try:
                        calls = to_exec(decode_calls(text, "python"))
                    except Exception:  # as bfcl: undecodable steps are ignored
                        continue
                    if calls and not (len(calls) == 1 and not calls[0]):
                        steps.append([c if self._is_allowed(c) else "undefined_call()" for c in calls])
                decoded.append(steps)
            result = checker(decoded, self.item.answer, self.entry, self.item.category, self.model_name)
            return float(bool(result["valid"]))
        finally:
            self.release()

    def transcript(self) -> str:
        """The model's answers, per user turn, as their repr (what results list as the completion)."""
        return repr(self.responses)

    def _is_allowed(self, call: str) -> bool:
        names = _call_names(call)
        return names is not None and names <= self.allowed

    def release(self) -> None:
        """Drop this episode's backend instances from bfcl's module globals."""
        space = _bfcl_mt()[0].__dict__
        for key in [k for k in space if k.startswith(self.model_name)]:
            del space[key]

