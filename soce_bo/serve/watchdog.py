"""Notice within a second that a local server's engine process died, and take the server down.

Why our own watchdog and not vLLM's: vLLM 0.32's API server does notice its EngineCore dying (a
monitor thread waits on the process sentinel) and fails the completions in flight with HTTP 500
EngineDeadError, but a pending utility call (/collective_rpc -- our pool loads and swaps --
and /reset_prefix_cache) waits on a future nobody ever fails, so the driver learnt of the crash
only when its request timed out (server.request_timeout_s, 600 s by default). /health turns 503
but nobody polls it during a call, and it stays 200 for a hung engine. A dead engine makes the
replica useless, so on the first sign the watchdog records which process died and how, and
SIGKILLs the server's process group: every open connection then breaks at once, and the client
raises a ServerError naming the dead process (see `SoupServer.check_alive`), which the evaluator
treats like a timeout (replace the replica, retry the trial). Servers we did not start (URLs,
SLURM jobs) cannot be watched this way: their processes are not ours to see.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from dataclasses import dataclass

import psutil

from soce_bo.serve.process import kill_group, stat_fields

log = logging.getLogger(__name__)

POLL_S = 0.5
API_SERVER = "API server"
ENGINE_NAME_PREFIX = "VLLM::"  # vLLM names its EngineCore and Worker processes so (setproctitle)


@dataclass(frozen=True)
class Watched:
    """One process of the server, identified by pid and creation time (pids get reused)."""

    name: str
    process: psutil.Process


class EngineWatchdog:
    """Polls the API server and its engine processes every `poll_s` seconds on a daemon thread."""

    def __init__(self, leader: subprocess.Popen, label: str, poll_s: float = POLL_S) -> None:
        self.leader = leader  # the reaper (see reaper.py): group leader, parent of the API server
        self.label = label
        self.poll_s = poll_s
        self.failure: str | None = None  # set once, by the watchdog thread
        self.watched: list[Watched] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take a snapshot of the server's processes (it is healthy now) and start watching them."""
        try:
            reaper = psutil.Process(self.leader.pid)
            self.watched = [Watched(API_SERVER, p) for p in reaper.children()]
            for proc in reaper.children(recursive=True):
                name = proc.name()
                if name.startswith(ENGINE_NAME_PREFIX):
                    self.watched.append(Watched(name.removeprefix(ENGINE_NAME_PREFIX), proc))
        except psutil.Error as err:  # the server is already gone: check_alive reports its exit code
            log.debug("cannot watch %s: %s", self.label, err)
            return
        if not any(w.name != API_SERVER for w in self.watched):
            log.warning("no vLLM engine process found under %s; watching its API server only", self.label)
        self._thread = threading.Thread(target=self._run, name=f"engine-watchdog {self.label}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before a deliberate shutdown, which ends these processes on purpose)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def watching(self) -> bool:
        """True while the watchdog thread polls (not stopped, nothing found yet)."""
        return self._thread is not None and self._thread.is_alive()

    def check_once(self) -> str | None:
        """What died, e.g. 'its EngineCore process (pid 123) died (killed by SIGKILL)', or None.

        Engine processes are checked before the API server: when an engine dies, the API server
        shuts itself down within a fraction of a second, so one poll often finds both gone, and the
        engine is the cause worth naming."""
        for w in sorted(self.watched, key=lambda w: w.name == API_SERVER):
            how = _death(w.process)
            if how is not None:
                return f"its {w.name} process (pid {w.process.pid}) died ({how})"
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            failure = self.check_once()
            if failure is None:
                continue
            if self._stop.is_set():  # a deliberate stop raced us: not a failure
                return
            self.failure = failure
            log.warning("vLLM server %s: %s; killing its process group so the calls in flight fail now",
                        self.label, failure)
            kill_group(self.leader.pid)
            return


def _death(proc: psutil.Process) -> str | None:
    """None while `proc` runs (or is stopped); how it ended once it is a zombie or gone."""
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:  # also a reused pid: psutil compares creation times
        return "its parent collected the exit status first; see the log"
    return _zombie_exit_status(proc.pid)


def _zombie_exit_status(pid: int) -> str:
    """The wait status a zombie leaves in /proc/PID/stat (field 52, exit_code), in words."""
    fields = stat_fields(pid)
    try:
        status = int(fields[49])  # fields after "(comm)" start at field 3
    except (TypeError, IndexError, ValueError):
        return "exit status not seen"
    if status & 0x7F:
        sig = status & 0x7F
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exit code {status >> 8}"
