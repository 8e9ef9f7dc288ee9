"""Server lifecycle: failed starts show the log, a dead or hung server is a clear error, and
neither a killed replica nor Ctrl-C leaves an engine process behind."""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from soce_bo.errors import ServerError
from soce_bo.evaluate.benchmark import GenRequest
from soce_bo.serve.process import group_alive
from soce_bo.serve.server import TERM_GRACE_S, SoupServer

pytestmark = pytest.mark.vllm


def wait_gone(pgid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not group_alive(pgid)


def test_failed_start_reports_log_tail(pool_dirs, tmp_path, cpu_config):
    cfg = cpu_config(log_dir=str(tmp_path), extra_args=["--no-such-vllm-flag"])
    server = SoupServer(pool_dirs[0], cfg)
    with pytest.raises(ServerError, match="exited during start-up") as err:
        server.start()
    assert "--no-such-vllm-flag" in str(err.value)  # the log tail names the culprit
    assert wait_gone(server.pgid)


def test_startup_timeout_kills_the_group(pool_dirs, tmp_path, cpu_config):
    server = SoupServer(pool_dirs[0], cpu_config(log_dir=str(tmp_path), startup_timeout_s=2))
    with pytest.raises(ServerError, match="not healthy after 2 s"):
        server.start()
    assert wait_gone(server.pgid)
    assert server.returncode() is not None


def test_missing_model_is_refused_before_spawning(tmp_path, cpu_config):
    with pytest.raises(ServerError, match="no config.json"):
        SoupServer(tmp_path / "nope", cpu_config(log_dir=str(tmp_path))).start()


SCRIPT = textwrap.dedent("""
    import json, signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # shells start jobs with SIGINT ignored
    from soce_bo.errors import ServerError
    from soce_bo.evaluate.benchmark import GenRequest
    from soce_bo.serve.config import ServerConfig
    from soce_bo.serve.server import start_servers

    pool, cfg = json.loads(sys.argv[1]), ServerConfig.from_mapping(json.loads(sys.argv[2]))
    servers = start_servers(cfg, pool, 2)
    clients = servers.clients()
    for client in clients:
        client.load_pool(pool)
    print(json.dumps({"pgids": [s.pgid for s in servers.servers]}), flush=True)
    reqs = [GenRequest(prompt="kv: a=1 b=2 c=3\\nkey: b\\nvalue: " * 3, max_tokens=64) for _ in range(128)]
    try:
        while True:
            clients[0].generate(reqs)
    except ServerError as err:
        print("SERVER_ERROR " + str(err).splitlines()[0], flush=True)
    clients[1].generate(reqs[:4])
    print("REPLICA_1_OK", flush=True)
    sys.stdin.readline()  # the test has frozen replica 1 (SIGSTOP)
    t0 = time.monotonic()
    try:
        clients[1].generate(reqs[:4])
    except ServerError as err:
        print(f"HUNG_ERROR {time.monotonic() - t0:.1f} " + str(err).splitlines()[0], flush=True)
    while True:
        time.sleep(0.2)
""")


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError(f"no output from the helper within {timeout} s")
    return proc.stdout.readline().strip()


@pytest.mark.slow
def test_replicas_dead_and_hung_servers_and_ctrl_c(pool_dirs, tmp_path, single_thread_env, cpu_config):
    """Two pinned replicas; replica 0 is killed mid-run, replica 1 frozen, then Ctrl-C."""
    cfg = dataclasses.asdict(cpu_config(log_dir=str(tmp_path), request_timeout_s=5))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps([str(p) for p in pool_dirs]), json.dumps(cfg)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(tmp_path / "helper.err", "w"),
        text=True, env=single_thread_env,
    )
    pgids: list[int] = []
    try:
        line = read_line(proc, 400)
        pgids = json.loads(line)["pgids"]
        if (os.cpu_count() or 1) >= 2:  # each replica's worker on its own core
            for core, pgid in enumerate(pgids):
                workers = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "VLLM::Worker"
                           and os.getpgid(p.pid) == pgid]
                assert workers and all(w.cpu_affinity() == [core] for w in workers)
        time.sleep(1.0)  # generation under way
        os.killpg(pgids[0], signal.SIGKILL)
        line = read_line(proc, 60)
        assert line.startswith("SERVER_ERROR") and "died with exit code" in line, line
        assert read_line(proc, 60) == "REPLICA_1_OK"

        os.killpg(pgids[1], signal.SIGSTOP)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = read_line(proc, 60)
        assert line.startswith("HUNG_ERROR") and "Timeout" in line, line
        assert float(line.split()[1]) < 30
        os.killpg(pgids[1], signal.SIGCONT)

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
        survivors = [pgid for pgid in pgids if not wait_gone(pgid)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pgid in pgids:  # never leave an engine behind, even when an assertion failed
            if group_alive(pgid):
                os.killpg(pgid, signal.SIGCONT)
                os.killpg(pgid, signal.SIGKILL)
    assert not survivors, f"engine process groups {survivors} survived Ctrl-C"


def engine_core(server: SoupServer) -> psutil.Process:
    cores = [p for p in psutil.Process(server.pgid).children(recursive=True) if p.name() == "VLLM::EngineCore"]
    assert len(cores) == 1, cores
    return cores[0]


@pytest.mark.slow
def test_dead_engine_fails_the_call_in_flight_and_a_frozen_one_stops_at_once(pool_dirs, tmp_path, cpu_config):
    """vLLM 0.32 never fails a /collective_rpc pending when its EngineCore dies (it waited for
    the request timeout, 600 s by default); the watchdog turns that into a ServerError in seconds,
    and names the dead process when vLLM itself fails a completion with HTTP 500."""
    server = SoupServer(pool_dirs[0], cpu_config(log_dir=str(tmp_path), request_timeout_s=300))
    server.start()
    try:
        client = server.client()
        client.load_pool(pool_dirs)
        core = engine_core(server)
        os.kill(core.pid, signal.SIGSTOP)  # the swap below waits on the engine ...
        outcome: dict = {}

        def swap() -> None:
            try:
                client.apply([1.0 / len(pool_dirs)] * len(pool_dirs))
            except ServerError as err:
                outcome["err"], outcome["t"] = err, time.monotonic()

        thread = threading.Thread(target=swap, daemon=True)
        thread.start()
        time.sleep(1.0)
        t_kill = time.monotonic()
        os.kill(core.pid, signal.SIGKILL)  # ... which then dies under it
        thread.join(timeout=120)
        assert "err" in outcome, "the swap in flight did not fail"
        assert outcome["t"] - t_kill < 30, "noticed only near the request timeout (300 s)"
        assert f"EngineCore process (pid {core.pid}) died" in str(outcome["err"])
        assert wait_gone(server.pgid)  # the dead replica's processes are gone, not left hanging

        server.restart()  # same port; a clean watchdog record
        assert server.engine_failure() is None
        client.close()
        client, core, outcome = server.client(), engine_core(server), {}
        reqs = [GenRequest(prompt="kv: a=1 b=2 c=3\nkey: b\nvalue: " * 3, max_tokens=64) for _ in range(128)]

        def generate() -> None:
            try:
                while True:
                    client.generate(reqs)
            except ServerError as err:
                outcome["err"] = err

        thread = threading.Thread(target=generate, daemon=True)
        thread.start()
        time.sleep(1.0)
        os.kill(core.pid, signal.SIGKILL)  # vLLM answers the completions in flight with HTTP 500 ...
        thread.join(timeout=120)
        assert f"EngineCore process (pid {core.pid}) died" in str(outcome.get("err"))  # ... named by the watchdog

        server.restart()
        os.killpg(server.pgid, signal.SIGSTOP)  # frozen (the old stop waited the 15 s SIGTERM grace)
        t0 = time.monotonic()
        server.stop()
        stop_s = time.monotonic() - t0
        assert wait_gone(server.pgid)
        assert stop_s < TERM_GRACE_S, f"stopping a frozen engine took {stop_s:.1f} s"
    finally:
        if server.pgid is not None and group_alive(server.pgid):
            os.killpg(server.pgid, signal.SIGCONT)
        server.stop()
