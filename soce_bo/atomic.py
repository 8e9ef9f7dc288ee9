"""Create an output folder atomically: build it under a temporary name, fsync, then rename.

Why: a soup killed halfway must never leave a folder that looks like a checkpoint. The temporary
folder `<out>.tmp-<random>` lives in the same parent (same filesystem, so rename is atomic) and is
removed on any exception; after a hard kill only that clearly named leftover remains.
Replacing an existing folder (overwrite=True) uses Linux renameat2(RENAME_EXCHANGE) when the C
library has it, so readers see the old or the new folder, never none; elsewhere it falls back to
two renames (a window of microseconds without `out`).
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
