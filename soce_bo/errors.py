"""One exception family for everything a user can get wrong.

CLIs catch `SoceError`, print its message (which names the culprit: file, tensor, category,
parameter) and exit with status 2 -- no traceback for bad input, a traceback for our bugs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar


class SoceError(Exception):
    """Bad input or a failed external part, with a message meant for the user."""


class PoolError(SoceError):
    """A set of checkpoints (or weights) that cannot be souped together."""


class ServerError(SoceError):
    """The evaluation server failed to start, died, or answered wrongly."""


class BenchmarkError(SoceError):
    """Benchmark data missing or malformed."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message ("" if it has none): server errors carry a log tail,
    which the ledger and progress lines leave out."""
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


class ConfigError(SoceError):
    """A configuration value that cannot work."""


F = TypeVar("F", bound=Callable)


def exit_on_user_error(fn: F) -> F:
    """Decorator for CLI entry points: SoceError -> one line on stderr and exit status 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SoceError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def dataclass_settings(cls: type, cfg: Any, where: str) -> dict[str, Any]:
    """A config node (Hydra or dict) as a plain dict for the dataclass `cls`: a typo'd key fails at
    once, naming it and the keys that exist, instead of silently falling back to a default."""
    import dataclasses

    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"unknown {where} setting(s) {unknown}; known: {sorted(known)}")
    return dict(cfg)
