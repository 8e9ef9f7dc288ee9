"""`tool`: pick one of a few listed functions and call it with arguments taken from a request.

Function docs are in BFCL's JSON format and the gold answer in BFCL's `possible_answer` format
(each argument -> list of accepted values, "" = may be omitted), so bfcl-eval's own AST checker
scores the completion, as for BFCL's `multiple` category. The prompt lists the functions compactly
(`name(arg,optional?)`) because the full JSON docs would not fit a char-level 512-token context.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

CITIES = ("paris", "tokyo", "lima", "oslo", "cairo", "delhi", "rome", "quito")
NAMES = ("ana", "bob", "eva", "finn", "jill", "kofi")
MESSAGES = ("hi", "call me", "late", "thanks", "on my way")
SONGS = ("blue sky", "red river", "night bus", "sun dance")
PLACES = ("luigi", "sakura", "noma", "la mer")
CHORES = ("buy milk", "pay rent", "call mom", "walk dog")


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # BFCL type name: "string" | "integer"
    description: str
    required: bool = True
    enum: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    params: tuple[Param, ...]
    requests: tuple[str, ...]  # templates; {arg} placeholders, optional args appear in some only

    def doc(self) -> dict[str, Any]:
        """This function in BFCL's function-doc format."""
        props: dict[str, Any] = {}
        for p in self.params:
            prop: dict[str, Any] = {"type": p.type, "description": p.description}
            if p.enum:
                prop["enum"] = list(p.enum)
            if p.default is not None:
                prop["default"] = p.default
            props[p.name] = prop
        required = [p.name for p in self.params if p.required]
        return {"name": self.name, "description": self.description,
                "parameters": {"type": "dict", "properties": props, "required": required}}

    def signature(self) -> str:
        return f"{self.name}(" + ",".join(p.name + ("" if p.required else "?") for p in self.params) + ")"


FUNCTIONS: tuple[Function, ...] = (
    Function("get_weather", "Current weather in a city.",
             (Param("city", "string", "City name."),
              Param("unit", "string", "Temperature unit.", False, ("celsius", "fahrenheit"), "celsius")),
             ("weather in {city}", "weather in {city} in {unit}")),
    Function("set_alarm", "Set an alarm clock.",
             (Param("hour", "integer", "Hour, 1-12."), Param("minute", "integer", "Minute, 0-59.")),
             ("wake me at {hour}:{minute:02d}", "alarm at {hour}:{minute:02d}")),
    Function("send_text", "Send a text message to a contact.",
             (Param("to", "string", "Contact name."), Param("msg", "string", "Message text.")),
             ("text {to}: {msg}", "tell {to} {msg}")),
    Function("play_song", "Play a song.",
             (Param("title", "string", "Song title."), Param("volume", "integer", "Volume, 1-10.", False)),
             ("play {title}", "play {title} at volume {volume}")),
    Function("book_table", "Reserve a table at a restaurant.",
             (Param("place", "string", "Restaurant name."), Param("people", "integer", "Party size.")),
             ("book {place} for {people}", "table for {people} at {place}")),
    Function("add_todo", "Add an item to the to-do list.",
             (Param("task", "string", "What to do."),),
             ("remind me to {task}", "todo: {task}")),
)
N_LISTED = 2
"""Functions shown per prompt: the one to call plus a distractor (BFCL `multiple` has 2-4)."""


def _draw_args(fn: Function, rng: random.Random) -> dict[str, Any]:
    """Values for every parameter of `fn` (the request template decides which are mentioned)."""
    pools: dict[str, Any] = {
        "city": CITIES, "unit": ("celsius", "fahrenheit"), "to": NAMES, "msg": MESSAGES,
        "title": SONGS, "place": PLACES, "task": CHORES,
    }
    ranges = {"hour": (1, 12), "minute": (0, 59), "volume": (1, 10), "people": (1, 9)}
    args: dict[str, Any] = {}
    for p in fn.params:
        if p.name in ranges:
            args[p.name] = rng.randint(*ranges[p.name])
        else:
            choices = [v for v in pools[p.name] if v not in args.values()]  # origin != destination etc.
            args[p.name] = rng.choice(choices)
    return args


def _render_call(name: str, args: dict[str, Any]) -> str:
    inner = ",".join(f"{k}={v!r}" for k, v in args.items())
    return f"[{name}({inner})]"


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    fn = rng.choice(FUNCTIONS)
    listed = [fn, *rng.sample([f for f in FUNCTIONS if f is not fn], N_LISTED - 1)]
    rng.shuffle(listed)
    template = rng.choice(fn.requests)
    values = _draw_args(fn, rng)
    request = template.format(**values)
    mentioned = {p.name: values[p.name] for p in fn.params if "{" + p.name in template}
    gold: dict[str, list[Any]] = {}
    for p in fn.params:
        if p.name in mentioned:
            gold[p.name] = [mentioned[p.name]]
        else:  # optional and not asked for: omitting it or passing its default are both right
            gold[p.name] = ["", p.default] if p.default is not None else [""]
    prompt = "tools: " + " ".join(f.signature() for f in listed) + f"\nuser: {request}\ncall: "
    meta = {"functions": [f.doc() for f in listed], "possible_answer": [{fn.name: gold}],
            "bfcl_category": "multiple"}
    return prompt, _render_call(fn.name, mentioned), meta
