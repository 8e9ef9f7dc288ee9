"""Process-group plumbing without vLLM: the reaper and the signal handlers."""

from __future__ import annotations

import json
import os
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


def sleepers_group(n: int) -> tuple[subprocess.Popen, list[int]]:
    """A group leader whose `n` child `sleep`s it never reaps: a killed child stays a zombie, like an
    engine core its API server has not reaped yet. Returns the leader and the children's pids."""
    script = ("import subprocess, sys, time\n"
              f"kids = [subprocess.Popen(['sleep', '300']) for _ in range({n})]\n"
              "print(*(k.pid for k in kids), flush=True)\n"
              "time.sleep(300)\n")
    leader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    return leader, [int(pid) for pid in leader.stdout.readline().split()]


def sleeper_group() -> tuple[subprocess.Popen, int]:
    """`sleepers_group` with one child: the leader and the child's pid."""
    leader, (child,) = sleepers_group(1)
    return leader, child


def test_watchdog_names_the_dead_process_and_takes_the_group_down():
    from soce_bo.serve.watchdog import EngineWatchdog

    leader, child = sleeper_group()
    dog = EngineWatchdog(leader, label="fake server", poll_s=0.1)
    try:
        dog.start()
        assert [(w.name, w.process.pid) for w in dog.watched] == [("API server", child)]
        time.sleep(0.3)
        assert dog.failure is None  # a healthy group is left alone
        os.kill(child, signal.SIGKILL)
        assert leader.wait(timeout=10) == -signal.SIGKILL  # the watchdog killed the whole group
        assert dog.failure == f"its API server process (pid {child}) died (killed by SIGKILL)"
    finally:
        dog.stop()
        process.signal_group(leader.pid, signal.SIGKILL)
        leader.wait(timeout=10)


def test_watchdog_names_the_engine_when_one_poll_finds_the_api_server_dead_too():
    """An engine's death makes vLLM's API server exit within a poll (CI once saw the API server
    named instead of the EngineCore that was killed): the engine is the cause to report."""
    from soce_bo.serve.watchdog import EngineWatchdog, Watched
    import psutil

    leader, (api, engine) = sleepers_group(2)
    try:
        dog = EngineWatchdog(leader, label="fake server")
        dog.watched = [Watched("API server", psutil.Process(api)), Watched("EngineCore", psutil.Process(engine))]
        assert dog.check_once() is None
        os.kill(api, signal.SIGTERM)
        os.kill(engine, signal.SIGKILL)
        time.sleep(0.3)
        assert dog.check_once() == f"its EngineCore process (pid {engine}) died (killed by SIGKILL)"
    finally:
        process.signal_group(leader.pid, signal.SIGKILL)
        leader.wait(timeout=10)


def test_watchdog_stopped_before_a_deliberate_shutdown_reports_nothing():
    from soce_bo.serve.watchdog import EngineWatchdog

    leader, _ = sleeper_group()
    dog = EngineWatchdog(leader, label="fake server", poll_s=0.1)
    dog.start()
    dog.stop()
    process.terminate_group(leader, grace_s=2.0)
    time.sleep(0.3)
    assert dog.failure is None and not process.group_alive(leader.pid)


def test_stopped_group_is_killed_without_waiting_for_the_grace():
    """A SIGSTOPped process cannot act on SIGTERM: grace 0 kills the group at once."""
    leader, child = sleeper_group()
    try:
        assert not process.group_has_stopped(leader.pid)
        os.kill(child, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while not process.group_has_stopped(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.group_has_stopped(leader.pid)
        t0 = time.monotonic()
        process.terminate_group(leader, grace_s=0.0)
        assert time.monotonic() - t0 < 12  # the grace path would wait the SIGTERM grace first
        assert not process.group_alive(leader.pid)
    finally:
        process.signal_group(leader.pid, signal.SIGKILL)
        process.signal_group(leader.pid, signal.SIGCONT)
