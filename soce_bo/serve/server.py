"""Start, watch and stop vLLM OpenAI-compatible servers as child processes.

Why a child process and not an in-process `LLM`: the server is what the search uses (HTTP,
continuous batching of concurrent requests), each engine lives in its own process group so it
can be killed as a whole, and a crash in vLLM becomes a clear `ServerError` instead of taking the
search down; an engine process that dies while the server runs is seen within a second by
`watchdog.py`, which fails the call in flight instead of leaving it to the request timeout.
Every server started here is registered for shutdown at interpreter exit and on SIGTERM/SIGHUP
(see `process.py`), so neither tests nor Ctrl-C leave engines behind.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from soce_bo.errors import ServerError
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.process import (
    free_port, group_has_stopped, install_signal_handlers, register, terminate_group, unregister,
)
from soce_bo.serve.watchdog import POLL_S as WATCHDOG_POLL_S, EngineWatchdog

log = logging.getLogger(__name__)

WORKER_EXTENSION = "soce_bo.serve.worker_ext.SoupWorkerExtension"
REAPER = Path(__file__).with_name("reaper.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 40
TERM_GRACE_S = 15.0
WATCHDOG_VERDICT_S = 3 * WATCHDOG_POLL_S  # how long an ended server waits for the watchdog to say why

class SoupServer:
    """One vLLM server process (group) on loopback; a context manager.

    >>> with SoupServer(expert_dir, ServerConfig()) as server:   # doctest: +SKIP
    ...     client = server.client()
    """

    def __init__(self, model: str | Path, cfg: ServerConfig | None = None, replica: int = 0,
                 replicas: int = 1, log_dir: str | Path | None = None) -> None:
        self.model = Path(model).expanduser().resolve()
        self.cfg = cfg or ServerConfig()
        self.replica = replica
        self.replicas = replicas
        base = log_dir or self.cfg.log_dir
        self.log_dir = Path(base) if base else Path(tempfile.mkdtemp(prefix="soce_serve_"))
        self.log_path = self.log_dir / f"vllm_server_{replica}.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self.watchdog: EngineWatchdog | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServerError("server not started")
        return f"http://{self.cfg.host}:{self.port}"

    def __enter__(self) -> SoupServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, wait: bool = True) -> SoupServer:
        """Spawn the server; with `wait`, block until /health answers (or raise with the log tail).

        With port 0 a free port is picked; should another process grab it before vLLM binds it,
        the start is retried on a new port.
        """
        return self._start(wait, port=None)

    def restart(self) -> SoupServer:
        """Stop and start again on the same port, so existing clients stay valid."""
        self.stop()
        return self._start(True, port=self.port)

    def _start(self, wait: bool, port: int | None) -> SoupServer:
        for attempt in range(3):
            self._spawn(port if attempt == 0 else None)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except ServerError:
                if self.cfg.port or attempt == 2 or "Address already in use" not in self.log_tail():
                    raise
                log.warning("port %s was taken before vLLM bound it; retrying", self.port)
        return self

    def _spawn(self, port: int | None = None) -> None:
        if self.proc is not None and self.returncode() is None:
            raise ServerError("server already started")
        if not (self.model / "config.json").is_file():
            raise ServerError(f"cannot start vLLM: no config.json in {self.model}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.watchdog = None  # a restart starts with a clean record
        self.port = port or self.cfg.port or free_port(self.cfg.host)
        cmd = self.command()
        log.info("starting vLLM on %s (log %s): %s", self.url, self.log_path, " ".join(cmd))
        # The reaper leads the group and takes it down should this process die without cleanup.
        cmd = [sys.executable, str(REAPER), str(os.getpid()), str(TERM_GRACE_S), "--", *cmd]
        install_signal_handlers()
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(), start_new_session=True, cwd=str(self.log_dir),
            )
        register(self)
        self._t_start = time.monotonic()

    def wait_ready(self) -> None:
        """Poll /health until 200; a dead child or the start-up timeout raises with the log tail."""
        deadline = self._t_start + self.cfg.startup_timeout_s
        with httpx.Client(timeout=5.0, trust_env=False) as http:
            while True:
                code = self.returncode()
                if code is not None:
                    self.stop()
                    raise ServerError(
                        f"vLLM server for {self.model} exited during start-up with code {code}; "
                        f"last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    if http.get(self.url + "/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise ServerError(
                        f"vLLM server for {self.model} not healthy after "
                        f"{self.cfg.startup_timeout_s:.0f} s (server.startup_timeout_s); "
                        f"last lines of {self.log_path}:\n{tail}"
                    )
                time.sleep(0.25)
        self.startup_s = time.monotonic() - self._t_start
        log.info("vLLM ready on %s after %.1f s", self.url, self.startup_s)
        # vLLM fails a completion when its engine core dies, but a pending /collective_rpc or
        # /reset_prefix_cache waits forever (0.32: utility futures are never failed) -- so we watch
        # the engine's processes ourselves and take the server down the moment one of them dies.
        self.watchdog = EngineWatchdog(self.proc, label=self.url)
        self.watchdog.start()

    def stop(self) -> None:
        """Terminate the whole process group: SIGTERM, wait, then SIGKILL whatever is left.

        No grace when an engine process is stopped (SIGSTOP: it cannot handle SIGTERM) or one has
        died (vLLM's own shutdown then has nothing to wait for): SIGCONT + SIGKILL at once.
        """
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.proc is not None:
            hopeless = self.engine_failure() is not None or group_has_stopped(self.proc.pid)
            terminate_group(self.proc, grace_s=0.0 if hopeless else TERM_GRACE_S)
        unregister(self)

    # -- state ---------------------------------------------------------------------------

    def returncode(self) -> int | None:
        """None while the server process runs, its exit code once it has ended."""
        return None if self.proc is None else self.proc.poll()

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code if the process ends within `timeout` seconds, else None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def engine_failure(self) -> str | None:
        """Which engine process died and how, once the watchdog has seen it; else None."""
        return None if self.watchdog is None else self.watchdog.failure

    def wait_engine_failure(self, timeout: float) -> str | None:
        """engine_failure(), waiting up to `timeout` seconds for the watchdog to see one."""
        deadline = time.monotonic() + timeout
        while (self.watchdog is not None and self.watchdog.failure is None and self.watchdog.watching()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        return self.engine_failure()

    def check_alive(self) -> None:
        """Raise ServerError (with the log tail) if the server or its engine process has ended."""
        failure = self.engine_failure()
        code = self.returncode()
        if code is not None and failure is None:  # it ended between two polls: let the watchdog say why
            failure = self.wait_engine_failure(timeout=WATCHDOG_VERDICT_S)
        if failure is not None and code is None:  # the watchdog's kill is still under way
            raise ServerError(
                f"vLLM server {self.url}: {failure}; last lines of {self.log_path}:\n{self.log_tail()}"
            )
        if self.proc is not None and code is not None:
            raise ServerError(
                f"vLLM server {self.url} (pid {self.proc.pid}) died with exit code {code}"
                f"{f' after {failure}' if failure else ''}; last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    @property
    def pgid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def client(self):
        """A SoupClient bound to this server (it checks the process when a request fails)."""
        from soce_bo.serve.client import SoupClient

        return SoupClient.from_config(self.url, self.cfg, server=self)

    # -- command line --------------------------------------------------------------------

    def command(self) -> list[str]:
        c = self.cfg
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model),
            "--served-model-name", c.served_model_name,
            "--host", c.host, "--port", str(self.port),
            "--dtype", c.dtype,
            "--max-model-len", str(c.max_model_len),
            "--tensor-parallel-size", str(c.tensor_parallel_size),
            "--seed", str(c.seed),
            "--load-format", "safetensors",
            # Greedy decoding must mean the same as in the HF reference: ignore the checkpoint's
            # generation_config.json sampling defaults (repetition penalty etc.).
            "--generation-config", "vllm",
            "--worker-extension-cls", WORKER_EXTENSION,
            "--disable-uvicorn-access-log",
            "--enable-prefix-caching" if c.enable_prefix_caching else "--no-enable-prefix-caching",
        ]
        if c.kv_cache_memory_bytes is not None:
            cmd += ["--kv-cache-memory-bytes", str(int(c.kv_cache_memory_bytes))]
        if c.gpu_memory_utilization is not None:
            cmd += ["--gpu-memory-utilization", str(c.gpu_memory_utilization)]
        if c.block_size is not None:
            cmd += ["--block-size", str(c.block_size)]
        if c.enforce_eager:
            cmd.append("--enforce-eager")
        if c.trust_remote_code:
            cmd.append("--trust-remote-code")
        return cmd + list(c.extra_args)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["VLLM_SERVER_DEV_MODE"] = "1"  # /collective_rpc and /reset_prefix_cache
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("VLLM_DO_NOT_TRACK", "1")
        # The worker imports soce_bo.serve.worker_ext: make the package importable without install.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        if self.cfg.device == "cpu":
            env.pop("OMP_NUM_THREADS", None)  # vLLM sizes its OpenMP pool from the binding
            bind = self.cfg.cpu_bind_for(self.replica, self.replicas, os.cpu_count() or 1)
            if bind is not None:
                env["VLLM_CPU_OMP_THREADS_BIND"] = bind
        else:
            # replica i gets its own block of tensor_parallel_size GPUs (ConfigError if too few)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.cfg.gpus_for(self.replica, self.replicas))
        env.update(self.cfg.env)
        return env


class ServerPool:
    """N replicas of the same server, each on its own core, for asynchronous trials."""

    def __init__(self, servers: Sequence[SoupServer]) -> None:
        self.servers = list(servers)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def clients(self) -> list:
        return [s.client() for s in self.servers]

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.servers)


def start_servers(cfg: ServerConfig, pool: Sequence[str | Path], n: int = 1,
                  log_dir: str | Path | None = None) -> ServerPool:
    """Start `n` servers on the first pool member concurrently and wait until all are healthy."""
    if not pool:
        raise ServerError("cannot start a server for an empty pool")
    if n < 1:
        raise ServerError(f"replicas must be >= 1, got {n}")
    if cfg.device == "cuda":
        cfg.gpus_for(n - 1, n)  # replicas x TP <= visible GPUs, checked before anything starts
    log_dir = log_dir or cfg.log_dir or tempfile.mkdtemp(prefix="soce_serve_")  # one folder for all
    servers = [SoupServer(pool[0], cfg, replica=i, replicas=n, log_dir=log_dir) for i in range(n)]
    started: list[SoupServer] = []
    try:
        for s in servers:
            s.start(wait=False)
            started.append(s)
        for s in servers:
            s.wait_ready()
    except BaseException:
        for s in started:
            s.stop()
        raise
    return ServerPool(servers)
