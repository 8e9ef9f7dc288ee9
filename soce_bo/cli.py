"""One error contract for every command line: bad input is one `error: ...` line and exit 2.

Hydra prints its own multi-line messages (or a stack trace) and exits 1 for a config it cannot
compose or an object it cannot instantiate. `hydra_cli` runs Hydra with its errors raised
(HYDRA_FULL_ERROR), and turns every error a user can cause -- our `SoceError`s, Hydra's
composition and override errors, OmegaConf's missing or mistyped keys, failed instantiation --
into one line naming the culprit. Anything else is our bug and keeps its traceback.
`SOCE_DEBUG=1` prints the traceback of user errors too.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import hydra
from hydra.errors import HydraException, InstantiationException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from soce_bo.errors import SoceError

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
EXIT_USER_ERROR = 2


def user_error_message(err: BaseException) -> str | None:
    """The one-line message for an error the user caused, or None for a bug."""
    if isinstance(err, SoceError):
        return str(err)
    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        inner = user_error_message(err.__cause__)
        return inner if inner is not None else _first_line(f"{_first_line(str(err))}: {err.__cause__}")
    if isinstance(err, (HydraException, OmegaConfBaseException)):
        cause = err.__cause__ or err.__context__
        unknown = re.search(r"full_key: (\S+)", str(cause or "")) if "not in struct" in str(cause or "") else None
        if unknown and "Could not override" in str(err):
            hint = re.search(r"use (\S+)", str(err))
            return (f"config: unknown key {unknown.group(1)!r}" + (f" (to add a new key write {hint.group(1)})"
                                                                   if hint else ""))
        text = _first_line(str(err))
        if isinstance(cause, OmegaConfBaseException) and _first_line(str(cause)) not in text:
            text = f"{text} ({_first_line(str(cause))})"
        return f"config: {text}"
    return None


def report_and_exit(err: BaseException) -> None:
    """Print one `error:` line and exit 2 for a user error; re-raise anything else."""
    message = user_error_message(err)
    if message is None:
        raise err
    if os.environ.get("SOCE_DEBUG") == "1":
        traceback.print_exception(err)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def hydra_cli(config_name: str, precheck: Callable[[DictConfig], None] | None = None) -> Callable:
    """Decorator: `hydra.main` for `conf/<config_name>.yaml` under the one-line error contract.

    precheck(cfg) runs on the config of the first sweep point before a multirun (`-m`) launches
    anything, so a bad setting fails once, here, instead of once per submitted job.
    """

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @wraps(task)
        def checked_task(cfg: DictConfig) -> Any:
            try:
                return task(cfg)
            except Exception as err:  # noqa: BLE001 - sorted into user errors and bugs
                report_and_exit(err)

        # Launchers such as submitit pickle the task function: make it importable by name, so it is
        # pickled by reference and not by value with everything its globals hold (rich consoles, locks).
        checked_task.__qualname__ = checked_task.__name__ = f"{task.__name__}_task"
        setattr(sys.modules[task.__module__], checked_task.__name__, checked_task)
        hydra_main = hydra.main(config_path=CONF_DIR, config_name=config_name, version_base="1.3")(checked_task)

        @wraps(task)
        def entry() -> Any:
            os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises; we decide what the user sees
            try:
                if precheck is not None and {"-m", "--multirun"} & set(sys.argv[1:]):
                    precheck(compose_first_point(config_name, sys.argv[1:]))
                return hydra_main()
            except Exception as err:  # noqa: BLE001
                report_and_exit(err)

        entry.task = checked_task  # type: ignore[attr-defined]
        return entry

    return decorate


def compose_first_point(config_name: str, argv: Sequence[str]) -> DictConfig:
    """The config of the first job of a sweep: every `a=1,2` override reduced to its first value."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    overrides = [a for a in argv if not a.startswith("-") and "=" in a]
    prefix = {OverrideType.ADD: "+", OverrideType.FORCE_ADD: "++", OverrideType.DEL: "~"}
    first = []
    for text, parsed in zip(overrides, OverridesParser.create().parse_overrides(overrides), strict=True):
        if parsed.is_sweep_override():
            value = next(iter(parsed.sweep_string_iterator()))
            text = f"{prefix.get(parsed.type, '')}{parsed.get_key_element()}={value}"
        first.append(text)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name, overrides=first, return_hydra_config=True)


def _first_line(text: str) -> str:
    """Hydra's messages folded into one line: the sentence, plus a list of options if it gives one."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return text
    out = lines[0]
    if len(lines) > 1 and lines[1].startswith("Available options"):
        options = [ln for ln in lines[2:] if not ln.startswith("Config search path")]
        end = next((i for i, ln in enumerate(lines[2:]) if ln.startswith("Config search path")), len(options))
        out += f" {lines[1]} " + ", ".join(options[:end])
    elif len(lines) > 1 and not lines[1].startswith("Config search path"):
        out += f" {lines[1]}"
    return out
