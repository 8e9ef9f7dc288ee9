"""Evaluation server replicas the driver can bring back when they die or hang.

A run outlives its servers: a worker can be OOM-killed, a node can fail, a SLURM job can be
cancelled. Each replica knows how to (re)create its server and hands out a client with the pool
loaded, so the evaluator that owns it can retry the trial in flight on a fresh server instead of
ending the run. Three kinds:

- `LocalReplica`: a vLLM child process started here (`SoupServer`); restart = stop + start.
- `UrlReplica`: a server someone else runs (`servers.urls`, `servers.url_dir`); we cannot start it,
  so "restart" waits (bounded) for it to answer /health again and reloads the pool.
- `soce_bo.serve.slurm`: a server submitted as a SLURM job; restart = cancel + resubmit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from soce_bo.errors import ServerError
from soce_bo.serve.client import SoupClient
from soce_bo.serve.config import ServerConfig

log = logging.getLogger(__name__)


@runtime_checkable
class Replica(Protocol):
    """One evaluation server that can be replaced. Used from one thread at a time."""

    label: str  # for logs and errors, e.g. "replica 0 (http://127.0.0.1:8001)"

    def start(self) -> SoupClient:
        """Bring the server up (blocking until healthy) and return a client; no pool loaded."""
        ...

    def restart(self, reason: str) -> SoupClient:
        """Replace a dead or hung server with an equivalent one; return its client (no pool loaded)."""
        ...

    def diagnose(self) -> str:
        """What a user needs to see when it keeps failing: log path and tail, job state."""
        ...

    def stop(self) -> None:
        """Stop what this replica started (a no-op for servers we do not own)."""
        ...


class LocalReplica:
    """A vLLM server started here as a child process group."""

    def __init__(self, model: str | Path, cfg: ServerConfig, index: int, replicas: int,
                 log_dir: str | Path | None) -> None:
        from soce_bo.serve.server import SoupServer

        self.server = SoupServer(model, cfg, replica=index, replicas=replicas, log_dir=log_dir)
        self.cfg = cfg
        self.index = index
        self._client: SoupClient | None = None

    @property
    def label(self) -> str:
        url = self.server.url if self.server.port else "not started"
        return f"replica {self.index} ({url})"

    def start(self) -> SoupClient:
        self.server.start(wait=True)
        return self._new_client()

    def restart(self, reason: str) -> SoupClient:
        log.warning("%s: %s -- restarting it (log %s)", self.label, reason, self.server.log_path)
        self.server.restart()  # same settings, same port when it is free again
        return self._new_client()

    def diagnose(self) -> str:
        return f"server log {self.server.log_path}:\n{self.server.log_tail(15)}"

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        self.server.stop()

    def _new_client(self) -> SoupClient:
        if self._client is not None:
            self._client.close()
        self._client = self.server.client()
        return self._client


class UrlReplica:
    """A server at a URL that we did not start: reconnect when it answers again, never start it."""

    def __init__(self, url: str, cfg: ServerConfig, reconnect_timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self.cfg = cfg
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self._client: SoupClient | None = None

    @property
    def label(self) -> str:
        return f"server {self.url}"

    def start(self) -> SoupClient:
        client = self._new_client()
        if not client.health():
            raise ServerError(f"no healthy server at {self.url} (servers.urls / servers.url_dir)")
        return client

    def restart(self, reason: str) -> SoupClient:
        log.warning("%s: %s -- waiting up to %.0f s for it to answer again", self.label, reason,
                    self.reconnect_timeout_s)
        client = self._new_client()
        deadline = time.monotonic() + self.reconnect_timeout_s
        while not client.health():
            if time.monotonic() > deadline:
                raise ServerError(f"{self.label} did not answer /health within "
                                  f"{self.reconnect_timeout_s:.0f} s (servers.reconnect_timeout_s) after: {reason}")
            time.sleep(1.0)
        return client

    def diagnose(self) -> str:
        return f"{self.label} is run outside this process; see its own log"

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()

    def _new_client(self) -> SoupClient:
        if self._client is not None:
            self._client.close()
        self._client = SoupClient.from_config(self.url, self.cfg)
        return self._client


def start_replicas(replicas: Sequence[Replica]) -> list[SoupClient]:
    """Start every replica; on any failure stop the ones already up and re-raise."""
    clients: list[SoupClient] = []
    try:
        for r in replicas:
            clients.append(r.start())
    except BaseException:
        for r in replicas:
            r.stop()
        raise
    return clients
