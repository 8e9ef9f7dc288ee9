"""Nothing half-written: files and folders are built under a temporary name, fsynced, then renamed.

Why: a run, a soup or a result killed halfway must never leave a file or folder that looks
complete. The temporary name lives in the same parent (same filesystem, so rename is atomic) and
is removed on any exception; after a hard kill only that clearly named leftover remains.

- `atomic_write(path, data)` / `atomic_file(path)`: one file (results, reports, snapshots, shards).
- `atomic_dir(out, overwrite)`: one folder (a soup checkpoint, the zoo). Replacing an existing
  folder uses Linux renameat2(RENAME_EXCHANGE) when the C library has it, so readers see the old
  or the new folder, never none; elsewhere it falls back to two renames (a window of
  microseconds without `out`).

It imports only the standard library and `soce_bo.errors`, so every stage can use it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from soce_bo.errors import ConfigError

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (the directory entry itself is data)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the platform cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    ok = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
    return ok


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that takes a file name; on normal exit
    it is fsynced and renamed onto `path`, on error deleted. Permissions follow the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; results should not be
        os.close(fd)
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; returns `path`."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@contextmanager
def atomic_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder; on normal exit it becomes `out`, on error it is deleted.

    Callers must fsync the files they write; this fsyncs the folders and performs the rename.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"output {out} already exists (pass overwrite=true to replace it)")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the soup should not be
    try:
        yield tmp
        fsync_dir(tmp)
        if out.exists():
            if _exchange(tmp, out):
                shutil.rmtree(tmp)  # tmp now holds the old folder
            else:
                old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
                os.replace(out, old)  # replaces the empty placeholder folder
                os.replace(tmp, out)
                shutil.rmtree(old)
        else:
            os.rename(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
