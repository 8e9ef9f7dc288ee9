"""Process-group plumbing for the servers: ports, termination, and cleanup at exit.

Why process groups: a vLLM server is three processes (API server, engine core, worker) plus a
resource tracker; killing the API server's whole group is the only way to be sure none survives.
Every live server is registered here and stopped at interpreter exit (which Ctrl-C reaches through
KeyboardInterrupt) and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    def stop(self) -> None: ...


_LIVE: set[Stoppable] = set()
_LIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    """True while any process (zombies included) is left in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat after "(comm)": state, ppid, pgrp, ... (field 3 onwards); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_states(pgid: int) -> list[str]:
    """The /proc state letters (R, S, T, Z, ...) of the processes in group `pgid`."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = stat_fields(stat.parent.name)
        if fields is not None and len(fields) > 2 and fields[2] == str(pgid):  # ended while we looked: None
            states.append(fields[0])
    return states


def group_has_stopped(pgid: int) -> bool:
    """True when a process of the group is stopped (SIGSTOP, 'T'): it cannot act on SIGTERM."""
    return any(state in ("T", "t") for state in group_states(pgid))


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(pgid: int) -> None:
    """SIGKILL the group, and SIGCONT it so that members stopped by SIGSTOP die at once too."""
    signal_group(pgid, signal.SIGKILL)
    signal_group(pgid, signal.SIGCONT)


def terminate_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the group led by `proc`, wait up to `grace_s`, SIGKILL what is left, reap.

    grace_s=0: no SIGTERM, SIGKILL (and SIGCONT, so stopped members die too) at once.
    """
    pgid = proc.pid  # started with start_new_session: the leader's pid is the group id
    if grace_s > 0:
        signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("vLLM server pid %s ignored SIGTERM; killing its process group", proc.pid)
    kill_group(pgid)  # engine core / worker stragglers share the group
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        pass
    deadline = time.monotonic() + 10.0  # children are reaped by their parents (or init)
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(pgid):
        log.warning("processes of vLLM process group %s are still exiting", pgid)


def register(server: Stoppable) -> None:
    with _LIVE_LOCK:
        _LIVE.add(server)


def unregister(server: Stoppable) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(server)


def live_servers() -> list[Stoppable]:
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all() -> None:
    """Stop every server this process started (atexit and the signal handlers call this)."""
    for server in live_servers():
        try:
            server.stop()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("failed to stop vLLM server %s", server)


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP -> stop our servers, then behave as before (Ctrl-C goes through atexit)."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    _HANDLERS_INSTALLED = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        if previous == signal.SIG_IGN:
            continue  # e.g. SIGHUP under nohup: keep ignoring it

        def handler(signum, frame, previous=previous):
            stop_all()
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(128 + signum)

        signal.signal(sig, handler)


atexit.register(stop_all)
