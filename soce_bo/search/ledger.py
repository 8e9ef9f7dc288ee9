"""Append-only trial ledger (JSONL): the run's source of truth for resume and the report.

One line per completed trial, written, flushed and fsync'd before anything else happens with
the result, so `kill -9` loses no completed trial. A kill can tear only the last line; the
reader skips it, and opening the ledger for appending cuts it off so the next record starts on
a fresh line. A malformed line anywhere else is corruption and is reported with its number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soce_bo.errors import SoceError
from soce_bo.search.base import TrialResult, Weights


@dataclass(frozen=True)
class TrialRecord:
    """A completed trial of one strategy.

    `trial` numbers the strategy's trials 0, 1, ...; `cached` means the result was reused from
    an identical soup evaluated earlier in the run (then `wall_seconds` is 0: nothing ran).
    """

    strategy: str
    trial: int
    weights: Weights
    result: TrialResult
    wall_seconds: float
    cached: bool = False
    timestamp: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "trial": self.trial, "weights": self.weights,
                "cached": self.cached, "wall_seconds": self.wall_seconds, "timestamp": self.timestamp,
                **self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        return cls(strategy=str(data["strategy"]), trial=int(data["trial"]),
                   weights={str(k): float(v) for k, v in data["weights"].items()},
                   result=TrialResult.from_dict(data), wall_seconds=float(data["wall_seconds"]),
                   cached=bool(data.get("cached", False)), timestamp=str(data.get("timestamp", "")))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _parse(path: Path) -> tuple[list[TrialRecord], int]:
    """Records, and the byte length of the intact prefix (everything before a torn last line)."""
    data = path.read_bytes()
    records, good_end, start = [], 0, 0
    while start < len(data):
        nl = data.find(b"\n", start)
        line = data[start:] if nl < 0 else data[start:nl]
        end = len(data) if nl < 0 else nl + 1
        try:
            if line.strip():
                records.append(TrialRecord.from_dict(json.loads(line)))
            good_end = end
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            if nl < 0 or not data[end:].strip():  # the last line: torn by a kill mid-write
                break
            line_no = data[:start].count(b"\n") + 1
            raise SoceError(f"ledger {path}:{line_no} is corrupt ({err}); it is not the last line, so "
                            "it was not torn by a kill -- fix or remove that line") from None
        start = end
    return records, good_end


def read_ledger(path: str | Path) -> list[TrialRecord]:
    """All intact records of a ledger ([] if it does not exist)."""
    path = Path(path)
    return _parse(path)[0] if path.exists() else []


class Ledger:
    """The ledger file plus its records in memory (the scheduler writes from one thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: list[TrialRecord] = []
        if self.path.exists():
            self.records, good_end = _parse(self.path)
            if good_end < self.path.stat().st_size:  # drop a torn tail before appending
                os.truncate(self.path, good_end)
            if good_end and not self.path.read_bytes().endswith(b"\n"):  # whole record, "\n" lost
                with self.path.open("a") as fh:
                    fh.write("\n")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def for_strategy(self, name: str) -> list[TrialRecord]:
        return [r for r in self.records if r.strategy == name]

    def append(self, record: TrialRecord) -> None:
        line = json.dumps(record.to_dict(), sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.records.append(record)
