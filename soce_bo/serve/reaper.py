"""Run a server command and take its whole process group down if our parent dies.

    python reaper.py PARENT_PID GRACE_S -- CMD...

Why: atexit and signal handlers cover Ctrl-C and SIGTERM, but not a parent that is SIGKILLed or
leaves through os._exit (e.g. a test-timeout plugin). A vLLM API server that loses its parent
keeps running, and when it is killed alone its engine core and worker keep running too (measured).
This small process leads the server's process group, polls its parent, and on the parent's death
terminates the group (SIGTERM, then SIGKILL after GRACE_S). Otherwise it mirrors the server's exit
status, so the caller sees the server's exit code or death signal as its own.

Run as a file (not `-m soce_bo...`) so it imports only the standard library; no PR_SET_PDEATHSIG
because that fires when the *thread* that started us ends, not the process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5


def main(argv: list[str]) -> int:
    parent, grace = int(argv[0]), float(argv[1])
    if argv[2] != "--" or len(argv) < 4:
        print("usage: reaper.py PARENT_PID GRACE_S -- CMD...", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv[3:])
    # SIGTERM to the group reaches the server directly; we just wait for it to finish.
    signal.signal(signal.SIGTERM, lambda *_: None)
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:  # parent gone: we were re-parented
            os.killpg(0, signal.SIGTERM)
            try:
                code = child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                code = None
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.killpg(0, signal.SIGKILL)  # stragglers in the group, and this process
            return 1 if code is None else code
    if code < 0:  # died by a signal: die by the same one
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # those cannot be handled anyway
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
