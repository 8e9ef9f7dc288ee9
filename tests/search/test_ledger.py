"""The JSONL ledger: round trip, a torn last line from kill -9, and real corruption."""

from __future__ import annotations

import math

import pytest

from soce_bo.errors import SoceError
from soce_bo.evaluate.benchmark import CategoryScore
from soce_bo.search.base import TrialResult
from soce_bo.search.ledger import Ledger, TrialRecord, now, read_ledger


def record(i: int, failed: bool = False) -> TrialRecord:
    result = (TrialResult.failure("boom", 1.5) if failed else
              TrialResult(objective=0.5 + i / 100, sem=0.02, seconds=3.0,
                          per_category={"math": CategoryScore(accuracy=0.5, n=20, sem=0.11)}))
    return TrialRecord(strategy="grid", trial=i, weights={"a": 0.3, "b": 0.7 - i / 100, "c": i / 100},
                       result=result, wall_seconds=3.1, timestamp=now())


def test_round_trip(tmp_path):
    ledger = Ledger(tmp_path / "sub" / "ledger.jsonl")
    for i in range(3):
        ledger.append(record(i))
    ledger.append(record(3, failed=True))
    back = read_ledger(ledger.path)
    for i in range(3):
        assert back[i].weights == record(i).weights
        assert back[i].result.per_category["math"] == CategoryScore(accuracy=0.5, n=20, sem=0.11)
        assert back[i].result.objective == record(i).result.objective
    assert back[3].result.failed and math.isnan(back[3].result.objective) and back[3].result.error == "boom"
    assert [r.trial for r in Ledger(ledger.path).for_strategy("grid")] == [0, 1, 2, 3]


def test_torn_last_line_is_skipped_and_cut_before_appending(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.append(record(0))
    ledger.append(record(1))
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"strategy": "grid", "trial": 2, "weig')  # killed mid-write
    assert [r.trial for r in read_ledger(path)] == [0, 1]
    reopened = Ledger(path)
    assert path.read_bytes() == intact and len(reopened.records) == 2
    reopened.append(record(2))
    assert [r.trial for r in read_ledger(path)] == [0, 1, 2]


def test_complete_last_record_without_newline_is_kept(tmp_path):
    path = tmp_path / "ledger.jsonl"
    Ledger(path).append(record(0))
    Ledger(path).append(record(1))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    reopened = Ledger(path)
    reopened.append(record(2))
    assert [r.trial for r in read_ledger(path)] == [0, 1, 2]


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.append(record(0))
    path.write_text(path.read_text() + "not json\n" + path.read_text())
    with pytest.raises(SoceError, match=r"ledger.jsonl:2 is corrupt"):
        read_ledger(path)
