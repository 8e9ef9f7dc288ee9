"""Shared fixtures: single-threaded torch, offline hub, the tiny expert zoo built once, and a
guard that no test leaves a vLLM engine behind.

The zoo lives at $SOCE_ZOO_DIR or <repo>/artifacts/zoo -- the same place `make demo` uses -- and
is rebuilt only when its config hash changes, so the suite pays the build (~8 min here) once.

Every process this session starts inherits SOCE_TEST_SESSION=<pytest pid>, so an engine is
traced back to this session even after its driver died and it was reparented (other agents on
the machine run vLLM servers of their own; those are never touched).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["SOCE_TEST_SESSION"] = str(os.getpid())

import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _torch_single_thread() -> None:
    import torch

    torch.set_num_threads(1)


_torch_single_thread()


def _zoo_path() -> Path:
    return Path(os.environ.get("SOCE_ZOO_DIR", REPO / "artifacts" / "zoo")).expanduser().resolve()


@pytest.fixture(scope="session")
def zoo_dir() -> Path:
    """Directory of the tiny expert zoo (built on first use, cached by config hash). When the
    background build started at collection is still running, ensure_zoo waits on its lock."""
    from soce_bo.zoo.build import ensure_zoo

    return ensure_zoo(_zoo_path())


_zoo_builder: subprocess.Popen | None = None


def _build_zoo_in_background(items: list[pytest.Item]) -> None:
    """A fresh clone spends ~6 min building the zoo; start it now, beside the tests that do not use it
    (they run first, see below), instead of inside the first test that does. The build holds the
    zoo's lock, so `zoo_dir` (and anything else calling ensure_zoo) simply waits for it."""
    global _zoo_builder
    if not any("zoo_dir" in item.fixturenames for item in items):
        return
    from soce_bo.zoo.config import ZooConfig
    from soce_bo.zoo.manifest import is_current

    out = _zoo_path()
    if is_current(out, ZooConfig().config_hash()):
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(out.parent / f".{out.name}.build.log", "w")  # noqa: SIM115 - the child writes it
    _zoo_builder = subprocess.Popen([sys.executable, "-m", "soce_bo.zoo", f"out={out}"], cwd=REPO,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def pytest_sessionfinish(session, exitstatus) -> None:
    """A run stopped early (-x, Ctrl-C) does not leave the background zoo build running."""
    if _zoo_builder is not None and _zoo_builder.poll() is None:
        os.killpg(_zoo_builder.pid, signal.SIGTERM)
        _zoo_builder.wait(timeout=60)


LEAK_GRACE_S = 20.0  # > the reaper's 15 s SIGTERM grace: an engine whose driver just died may still be going


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:  # gone, or not ours to read
        return b""


def session_engines() -> dict[int, str]:
    """pid -> cmdline of live vLLM processes (API server, EngineCore, workers) started by this session.

    Read straight from /proc (~1 ms; psutil takes ~20 ms), since it runs twice per test."""
    tag = b"SOCE_TEST_SESSION=" + os.environ["SOCE_TEST_SESSION"].encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        text = _read(f"/proc/{entry}/comm").strip() + b" " + _read(f"/proc/{entry}/cmdline").replace(b"\0", b" ")
        if b"VLLM" not in text and b"vllm.entrypoints" not in text:
            continue
        stat = _read(f"/proc/{entry}/stat")
        if not stat or stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X"):  # zombie or dead
            continue
        if tag in _read(f"/proc/{entry}/environ").split(b"\0"):
            found[int(entry)] = text.decode(errors="replace").strip()[:300]
    return found


def _kill_engines(pids: list[int]) -> None:
    """SIGKILL each engine's process group (the reaper leads it), never pytest's own group."""
    from soce_bo.serve.process import kill_group

    own = os.getpgid(0)
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != own:
                kill_group(group)  # SIGKILL + SIGCONT: a SIGSTOPped engine dies too
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def _leaked_since(before: dict[int, str]) -> dict[int, str]:
    """Engines started since `before` still alive after LEAK_GRACE_S (polled: no wait when none)."""
    deadline = time.monotonic() + LEAK_GRACE_S
    while True:
        new = {pid: cmd for pid, cmd in session_engines().items() if pid not in before}
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.5)


def _fail_on_leak(before: dict[int, str], where: str) -> None:
    leaked = _leaked_since(before)
    if leaked:
        _kill_engines(list(leaked))  # so the tests after this one do not share the cores with it
        lines = "\n".join(f"  pid {pid}: {cmd}" for pid, cmd in sorted(leaked.items()))
        pytest.fail(f"{where} left vLLM processes alive after {LEAK_GRACE_S:.0f} s (now killed):\n{lines}",
                    pytrace=False)


@pytest.fixture(scope="module", autouse=True)
def no_engine_left_by_module(request) -> Iterator[None]:
    """Module-scoped engines (shared servers) must be gone once their module is done."""
    before = session_engines()
    yield
    _fail_on_leak(before, f"module {request.module.__name__}")


@pytest.fixture(autouse=True)
def no_engine_left_by_test(request) -> Iterator[None]:
    """An engine a test started itself must be gone when it ends: a leaked engine busy-polls a core
    and slows every later test. Engines of module/session fixtures already exist when this is set up."""
    before = session_engines()
    yield
    _fail_on_leak(before, request.node.nodeid)


def pytest_collection_modifyitems(config, items):
    """Modules that use the zoo run last (whole modules, so module fixtures are set up once), while
    the zoo builds in the background; `gpu` tests are skipped on machines without CUDA."""
    zoo_modules = {item.module for item in items if "zoo_dir" in item.fixturenames}
    items[:] = sorted(items, key=lambda item: item.module in zoo_modules)  # stable: order kept otherwise
    _build_zoo_in_background(items)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing means nothing runs anyway
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
