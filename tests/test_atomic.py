"""soce_bo.atomic: a file or folder is either the old one or the complete new one, never half."""

from __future__ import annotations

import os

import pytest

from soce_bo.atomic import atomic_dir, atomic_file, atomic_write


def test_atomic_write_replaces_and_follows_the_umask(tmp_path):
    path = tmp_path / "sub" / "result.json"
    atomic_write(path, "old\n")
    atomic_write(path, b"new\n")
    assert path.read_text() == "new\n"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_a_failed_writer_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "state.json"
    atomic_write(path, "old")
    with pytest.raises(RuntimeError), atomic_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_atomic_dir_swaps_a_whole_folder(tmp_path):
    out = tmp_path / "soup"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("crash")
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soup"]
