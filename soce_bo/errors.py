"""One exception family for everything a user can get wrong.

CLIs catch `SoceError`, print its message (which names the culprit: file, tensor, category,
parameter) and exit with status 2 -- no traceback for bad input, a traceback for our bugs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar


class SoceError(Exception):
    """Bad input or a failed external part, with a message meant for the user."""


class PoolError(SoceError):
    """A set of checkpoints (or weights) that cannot be souped together."""


class ServerError(SoceError):
    """The evaluation server failed to start, died, or answered wrongly."""


class BenchmarkError(SoceError):
    """Benchmark data missing or malformed."""


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
