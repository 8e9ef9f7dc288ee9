"""Append-only trial ledger (JSONL): the run's source of truth for resume and the report.

One line per completed trial, written, flushed and fsync'd before anything else happens with
the result, so `kill -9` loses no completed trial. A kill can tear only the last line; the
reader skips it, and opening the ledger for appending cuts it off so the next record starts on
a fresh line. A malformed line anywhere else is corruption and is reported with its number.

The first line may be a header, `{"header": {...}}`: the identity of what produced the scores
(pool contents, benchmark, items, generation settings). A ledger opened with a header refuses a
file whose header differs, naming the changed keys, so a resumed run never reuses stale scores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soce_bo.atomic import atomic_write
from soce_bo.errors import SoceError
from soce_bo.values import TrialResult, Weights


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


class LedgerMismatch(SoceError):
    """The ledger on disk was written for another run identity (pool, benchmark, items, ...)."""

    def __init__(self, path: Path, changed: list[str]) -> None:
        self.path, self.changed = path, changed
        super().__init__(f"{path} was written with other settings: {', '.join(changed)} changed")


def _parse(path: Path) -> tuple[list[TrialRecord], int, dict[str, Any] | None]:
    """Records, the byte length of the intact prefix (before a torn last line), and the header."""
    data = path.read_bytes()
    records, good_end, start = [], 0, 0
    header: dict[str, Any] | None = None
    while start < len(data):
        nl = data.find(b"\n", start)
        line = data[start:] if nl < 0 else data[start:nl]
        end = len(data) if nl < 0 else nl + 1
        try:
            if line.strip():
                row = json.loads(line)
                if start == 0 and isinstance(row, dict) and set(row) == {"header"}:
                    header = row["header"]
                else:
                    records.append(TrialRecord.from_dict(row))
            good_end = end
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            if nl < 0 or not data[end:].strip():  # the last line: torn by a kill mid-write
                break
            line_no = data[:start].count(b"\n") + 1
            raise SoceError(f"ledger {path}:{line_no} is corrupt ({err}); it is not the last line, so "
                            "it was not torn by a kill -- fix or remove that line") from None
        start = end
    return records, good_end, header


def read_ledger(path: str | Path) -> list[TrialRecord]:
    """All intact records of a ledger ([] if it does not exist)."""
    path = Path(path)
    return _parse(path)[0] if path.exists() else []


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like trees (sorted, for one clear message)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(where)
            else:
                out += changed_keys(old[key], new[key], where)
        return out
    return [] if old == new else [prefix or "<header>"]


class Ledger:
    """The ledger file plus its records in memory (the scheduler writes from one thread).

    With `header`, a new file starts with it and an existing one must carry the same header
    (else `LedgerMismatch`); a file holding only a header or nothing counts as new.
    """

    def __init__(self, path: str | Path, header: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.records: list[TrialRecord] = []
        self.header: dict[str, Any] | None = None
        if self.path.exists():
            self.records, good_end, self.header = _parse(self.path)
            if good_end < self.path.stat().st_size:  # drop a torn tail before appending
                os.truncate(self.path, good_end)
            if good_end and not self.path.read_bytes().endswith(b"\n"):  # whole record, "\n" lost
                with self.path.open("a") as fh:
                    fh.write("\n")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if header is not None:
            wanted = json.loads(json.dumps(header, sort_keys=True))  # the form it takes on disk
            if self.header is None and not self.records:
                self._write_header(wanted)
            elif self.header is None:
                raise LedgerMismatch(self.path, ["header (the ledger has none: written by an older version)"])
            elif self.header != wanted:
                raise LedgerMismatch(self.path, changed_keys(self.header, wanted))

    def _write_header(self, header: dict[str, Any]) -> None:
        atomic_write(self.path, json.dumps({"header": header}, sort_keys=True) + "\n")
        self.header = header

    def for_strategy(self, name: str) -> list[TrialRecord]:
        return [r for r in self.records if r.strategy == name]

    def append(self, record: TrialRecord) -> None:
        line = json.dumps(record.to_dict(), sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.records.append(record)
