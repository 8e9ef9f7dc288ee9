"""Process-group plumbing without vLLM: the reaper and the signal handlers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from soce_bo.serve import process
from soce_bo.serve.server import REAPER


def reaper(*cmd: str, parent: int | None = None) -> subprocess.Popen:
    import os

    return subprocess.Popen([sys.executable, str(REAPER), str(parent or os.getpid()), "2", "--", *cmd],
                            start_new_session=True)


def test_reaper_mirrors_exit_code_and_death_signal():
    assert reaper("sh", "-c", "exit 3").wait(timeout=30) == 3
    assert reaper("sh", "-c", "kill -9 $$").wait(timeout=30) == -signal.SIGKILL


def test_reaper_takes_the_group_down_when_its_parent_dies():
    """A parent that leaves through os._exit (no atexit) must not leave its server behind."""
    script = (
        "import os, subprocess, sys, json\n"
        f"p = subprocess.Popen([sys.executable, {str(REAPER)!r}, str(os.getpid()), '2', '--', "
        "'sh', '-c', 'sleep 300 & sleep 300'], start_new_session=True)\n"
        "print(json.dumps(p.pid), flush=True)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    pgid = json.loads(out.stdout)
    deadline = time.monotonic() + 10
    while process.group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = process.group_alive(pgid)
    if alive:
        process.signal_group(pgid, signal.SIGKILL)
    assert not alive, "the orphaned process group survived"


class _Fake:
    stopped = False

    def stop(self) -> None:
        self.stopped = True
        process.unregister(self)


def test_sigterm_handler_stops_registered_servers(monkeypatch):
    original = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(process, "_HANDLERS_INSTALLED", False)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        process.install_signal_handlers()
        fake = _Fake()
        process.register(fake)
        with pytest.raises(SystemExit) as exit_info:
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert fake.stopped and exit_info.value.code == 128 + signal.SIGTERM
        assert fake not in process.live_servers()
    finally:
        signal.signal(signal.SIGTERM, original)
