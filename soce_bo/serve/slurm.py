"""Evaluation servers as SLURM jobs, and the up-front check of a SLURM launch.

Why jobs and not child processes: on a cluster the driver (or a login node) holds no GPU; each
server replica is its own `sbatch` job running `runners/slurm_server.sbatch` -> `python -m
soce_bo.serve ... register_dir=<dir>`, which writes `http://<node>:<port>` to a `.url` file once the
pool is loaded. A `SlurmReplica` submits that job, waits for the URL (bounded, with the job's state
and log tail in the error), replaces the job when it dies (scancel, node failure, time limit), and
cancels it at the end -- also at interpreter exit and on SIGTERM, through the same registry that
stops local servers.

`check_slurm_launch(cfg)` validates a composed run config against the live cluster (`sinfo`,
`sbatch --test-only`) before anything is submitted, so a typo'd partition is one `error:` line and
no job is ever queued.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from soce_bo.errors import ConfigError, ServerError, dataclass_settings
from soce_bo.serve.client import SoupClient
from soce_bo.serve.config import ServerConfig
from soce_bo.serve.process import install_signal_handlers, register, unregister

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SBATCH_SCRIPT = REPO_ROOT / "runners" / "slurm_server.sbatch"
SERVER_GROUP_OPTION = "slurm_job"  # <attempt>/server/slurm_job.yaml: the ServerConfig for the job
FINISHED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
            "PREEMPTED", "TIMEOUT", "GONE"}
POLL_S = 1.0
CANCEL_WAIT_S = 60.0
CMD_TIMEOUT_S = 30.0
# Inherited from a driver that itself runs in a SLURM job, these would leak into the server job.
_JOB_ENV_PREFIXES = ("SLURM_", "SBATCH_", "SRUN_", "SUBMITIT_")
_JOB_ENV_NAMES = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")


@dataclass(frozen=True)
class SlurmServerSpec:
    """`servers.slurm`: how to submit the evaluation server jobs (one job per replica)."""

    replicas: int = 1
    partition: str | None = None  # null = the cluster's default partition
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time_min: int = 60  # job time limit (minutes); a job that hits it is replaced like a dead one
    gpus_per_replica: int = 0  # 0 = a CPU server (server=cpu); else --gpus-per-node, TP over them
    cpus_per_task: int = 1
    mem_gb: float = 4  # 0 = all of the node's memory
    url_timeout_s: float = 600  # from sbatch until the URL file appears (queue wait + model load)
    python: str | None = None  # the job's Python; null = this interpreter (same venv)
    host: str | None = None  # address the server binds and advertises; null = the node's IPv4
    job_name: str = "soce-server"
    extra_sbatch: list[str] = field(default_factory=list)  # e.g. ["--exclude=node7"]

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None) -> SlurmServerSpec:
        """From `servers.slurm` (a Hydra node or dict); unknown keys and bad values are ConfigErrors."""
        if cfg is None:
            return cls()
        values = dataclass_settings(cls, cfg, "servers.slurm")
        values["extra_sbatch"] = [str(a) for a in values.get("extra_sbatch") or []]
        spec = cls(**values)
        for key in ("replicas", "cpus_per_task", "time_min"):
            if int(getattr(spec, key)) < 1:
                raise ConfigError(f"servers.slurm.{key} must be >= 1, got {getattr(spec, key)}")
        for key in ("gpus_per_replica", "mem_gb"):
            if getattr(spec, key) < 0:
                raise ConfigError(f"servers.slurm.{key} must be >= 0, got {getattr(spec, key)}")
        if spec.url_timeout_s <= 0:
            raise ConfigError(f"servers.slurm.url_timeout_s must be positive, got {spec.url_timeout_s}")
        return spec

    def sbatch_options(self) -> list[str]:
        """The resource options of one server job (they win over the script's #SBATCH lines)."""
        opts = [f"--job-name={self.job_name}", "--nodes=1", "--ntasks=1",
                f"--cpus-per-task={int(self.cpus_per_task)}", f"--time={int(self.time_min)}",
                f"--gpus-per-node={int(self.gpus_per_replica)}", f"--mem={_mem(self.mem_gb)}"]
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(self, key):
                opts.append(f"--{key}={getattr(self, key)}")
        return opts + list(self.extra_sbatch)


def slurm_replicas(slurm_cfg: Mapping[str, Any], server_cfg: ServerConfig, pool_paths: Sequence[str],
                   run_dir: Path) -> list[SlurmReplica]:
    """One `SlurmReplica` per `servers.slurm.replicas`, each with its own folder under run_dir."""
    spec = SlurmServerSpec.from_mapping(slurm_cfg)
    require_slurm()
    _check_jobs([_server_job(spec)])  # a single run gets no multirun precheck: refuse here, queue nothing
    install_signal_handlers()  # SIGTERM/SIGHUP -> stop() -> scancel; must run in the main thread
    _install_interrupt_hook()
    return [SlurmReplica(i, spec, server_cfg, pool_paths, Path(run_dir)) for i in range(spec.replicas)]


_REPLICAS: weakref.WeakSet[SlurmReplica] = weakref.WeakSet()
_HOOKED = False


def _install_interrupt_hook() -> None:
    """Ctrl-C ends every URL wait at once, whatever thread waits, then raises KeyboardInterrupt as before.

    The driver may start replicas in worker threads; KeyboardInterrupt reaches only the main thread,
    which then waits for those threads -- up to url_timeout_s -- before it can scancel anything.
    """
    global _HOOKED
    if _HOOKED or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN / SIG_DFL: leave them alone
        return

    def on_sigint(signum, frame):
        for replica in list(_REPLICAS):
            replica._abort.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    _HOOKED = True


class SlurmReplica:
    """One evaluation server run as a SLURM job; restart = scancel + resubmit. One thread at a time.

    Files: <run_dir>/servers/slurm/replica<i>/attempt<n>/ holds the job's pool file, server config,
    sbatch log (`slurm-<jobid>.log`), vLLM log and, once ready, its `<host>-<port>.url` file; n counts
    on across resumed runs, so no job's logs are overwritten.
    """

    def __init__(self, index: int, spec: SlurmServerSpec, server_cfg: ServerConfig,
                 pool_paths: Sequence[str], run_dir: Path) -> None:
        if not pool_paths:
            raise ServerError("cannot start a server for an empty pool")
        self.index = index
        self.spec = spec
        self.server_cfg = job_server_config(server_cfg, spec)
        self.pool_paths = [str(Path(p).expanduser().resolve()) for p in pool_paths]
        self.folder = Path(run_dir).resolve() / "servers" / "slurm" / f"replica{index}"
        # a resumed run keeps the logs of the jobs before it: numbering goes on
        self.attempt = max((int(m.group(1)) for p in self.folder.glob("attempt*")
                            if (m := re.fullmatch(r"attempt(\d+)", p.name))), default=0)
        self.job_id: str | None = None
        self.url: str | None = None
        self.attempt_dir: Path | None = None
        self._client: SoupClient | None = None
        self._abort = threading.Event()  # set by stop() or Ctrl-C: a URL wait in any thread gives up
        self.submit_s: float | None = None  # sbatch -> URL file, last start
        _REPLICAS.add(self)

    @property
    def label(self) -> str:
        where = self.url or "not ready"
        return f"replica {self.index} (SLURM job {self.job_id or '-'}, {where})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SoupClient:
        self._submit()
        return self._wait_and_connect()

    def restart(self, reason: str) -> SoupClient:
        log.warning("%s: %s -- cancelling it and submitting a new server job", self.label, reason)
        self._cancel()
        self._submit()
        return self._wait_and_connect()

    def stop(self) -> None:
        self._abort.set()
        if self._client is not None:
            self._client.close()
            self._client = None
        self._cancel()
        unregister(self)

    def diagnose(self) -> str:
        if self.job_id is None:
            return f"replica {self.index}: no job submitted"
        state, reason = job_state(self.job_id)
        return (f"SLURM job {self.job_id}: {state}" + (f" ({reason})" if reason else "")
                + f"; files in {self.attempt_dir}\n{self.log_tail()}")

    # -- job plumbing ------------------------------------------------------------------------

    def _submit(self) -> None:
        self._abort.clear()
        self.attempt += 1
        self.url = None
        adir = self.folder / f"attempt{self.attempt}"
        (adir / "server").mkdir(parents=True)
        self.attempt_dir = adir
        pool_file = adir / "pool.txt"
        pool_file.write_text("".join(p + "\n" for p in self.pool_paths))
        server_yaml = adir / "server" / f"{SERVER_GROUP_OPTION}.yaml"
        server_yaml.write_text(OmegaConf.to_yaml(OmegaConf.create(dataclasses.asdict(self.server_cfg))))
        python = self.spec.python or sys.executable
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_JOB_ENV_PREFIXES) and k not in _JOB_ENV_NAMES}
        env.update(SOCE_PYTHON=python, SOCE_REPO=str(REPO_ROOT), POOL_FILE=str(pool_file),
                   SOCE_REGISTER_DIR=str(adir), SOCE_LOG_DIR=str(adir), SOCE_SERVER=SERVER_GROUP_OPTION)
        if self.spec.host:
            env["SOCE_SERVER_HOST"] = self.spec.host
        cmd = ["sbatch", "--parsable", "--export=ALL", f"--chdir={adir}",
               f"--output={adir / 'slurm-%j.log'}", *self.spec.sbatch_options(),
               str(SBATCH_SCRIPT), f"--config-dir={adir}"]
        out = _run(cmd, env=env)
        if out.returncode != 0:
            raise ServerError(f"sbatch of evaluation server replica {self.index} failed: "
                              f"{(out.stderr or out.stdout).strip()} (command: {shlex.join(cmd)})")
        self.job_id = out.stdout.strip().split(";")[0]
        self._t_submit = time.monotonic()
        install_signal_handlers()
        register(self)  # scancel'ed at exit / SIGTERM even if the driver never calls stop()
        log.info("replica %d: submitted SLURM job %s (%s); files in %s", self.index, self.job_id,
                 " ".join(self.spec.sbatch_options()), adir)

    def _wait_and_connect(self) -> SoupClient:
        assert self.job_id is not None and self.attempt_dir is not None
        deadline = self._t_submit + self.spec.url_timeout_s
        last_state = 0.0
        while True:
            urls = sorted(self.attempt_dir.glob("*.url"))
            if urls:
                self.url = urls[0].read_text().strip()
                break
            if time.monotonic() - last_state > 2.0:
                last_state = time.monotonic()
                state, reason = job_state(self.job_id)
                if state in FINISHED:
                    raise ServerError(
                        f"evaluation server job {self.job_id} (replica {self.index}) ended before it "
                        f"served: {state}{f' ({reason})' if reason else ''}; last lines of its logs:\n"
                        f"{self.log_tail()}")
            if self._abort.is_set():
                raise ServerError(f"stopped while waiting for evaluation server job {self.job_id} "
                                  f"(replica {self.index}) to serve")
            if time.monotonic() > deadline:
                state, reason = job_state(self.job_id)
                tail = self.log_tail()
                self._cancel()
                raise ServerError(
                    f"evaluation server job {self.job_id} (replica {self.index}) wrote no URL file in "
                    f"{self.attempt_dir} within {self.spec.url_timeout_s:.0f} s (servers.slurm."
                    f"url_timeout_s); it was {state}{f' ({reason})' if reason else ''} and has been "
                    f"cancelled; last lines of its logs:\n{tail}")
            time.sleep(POLL_S)
        self.submit_s = time.monotonic() - self._t_submit
        log.info("replica %d: SLURM job %s serves at %s (%.1f s after sbatch)", self.index, self.job_id,
                 self.url, self.submit_s)
        if self._client is not None:
            self._client.close()
        self._client = SoupClient.from_config(self.url, self.server_cfg, server=_JobWatch(self))
        if not self._client.health():
            raise ServerError(f"{self.label} registered {self.url} but /health does not answer from "
                              f"here (servers.slurm.host?)")
        return self._client

    def _cancel(self) -> None:
        """scancel the current job and wait until squeue no longer lists it."""
        job, self.job_id = self.job_id, None
        if job is None:
            return
        _run(["scancel", job])
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            state, _ = job_state(job)
            if state in FINISHED:
                break
            time.sleep(0.5)
        else:
            log.warning("SLURM job %s still %s %.0f s after scancel", job, state, CANCEL_WAIT_S)
        self.job_id = job  # kept for diagnose(); cancelling twice is harmless

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the sbatch log and of the vLLM log of the current attempt."""
        if self.attempt_dir is None:
            return "(no logs)"
        parts = []
        for path in sorted(self.attempt_dir.glob("slurm-*.log")) + sorted(self.attempt_dir.glob("vllm_server_*.log")):
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- {path}\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or f"(no log files yet in {self.attempt_dir})"


class _JobWatch:
    """What SoupClient asks of a server when a request fails: has the job ended?"""

    def __init__(self, replica: SlurmReplica) -> None:
        self.replica = replica
        self.job_id = replica.job_id

    def wait_exit(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if job_state(self.job_id)[0] not in ("RUNNING",):
                return
            time.sleep(0.25)

    def check_alive(self) -> None:
        state, reason = job_state(self.job_id)
        if state != "RUNNING":
            raise ServerError(f"evaluation server job {self.job_id} (replica {self.replica.index}) is "
                              f"{state}{f' ({reason})' if reason else ''}; last lines of its logs:\n"
                              f"{self.replica.log_tail()}")


def job_server_config(cfg: ServerConfig, spec: SlurmServerSpec) -> ServerConfig:
    """The server settings inside a job: CPU servers use the job's cores, not a fixed core number.

    Inside a job the replica is the only server, so `cpu_bind: auto` (worker on core 0) could land
    on a core SLURM gave to another job; `nobind` leaves placement to the job's CPU set, with one
    OpenMP thread per allocated CPU.
    """
    changes: dict[str, Any] = {}
    if cfg.url:
        raise ConfigError("server.url names a running server; servers.slurm submits its own")
    if spec.gpus_per_replica == 0:
        if cfg.device != "cpu":
            raise ConfigError("servers.slurm.gpus_per_replica=0 runs a CPU server: use server=cpu, "
                              "or ask for GPUs (servers.slurm.gpus_per_replica)")
        if cfg.cpu_bind in ("auto", None) or isinstance(cfg.cpu_bind, list):
            changes["cpu_bind"] = "nobind"
        env = dict(cfg.env)
        env.setdefault("OMP_NUM_THREADS", str(int(spec.cpus_per_task)))
        changes["env"] = env
    else:
        if cfg.device != "cuda":
            raise ConfigError(f"servers.slurm.gpus_per_replica={spec.gpus_per_replica} needs server=gpu")
        if cfg.tensor_parallel_size > spec.gpus_per_replica:
            raise ConfigError(f"server.tensor_parallel_size={cfg.tensor_parallel_size} needs at least that "
                              f"many GPUs per job; servers.slurm.gpus_per_replica={spec.gpus_per_replica}")
    changes["port"] = 0
    changes["log_dir"] = None  # the script sets it to the attempt folder
    return dataclasses.replace(cfg, **changes)


# -- cluster queries ------------------------------------------------------------------------------

def require_slurm() -> None:
    missing = [c for c in ("sbatch", "squeue", "scancel", "sinfo") if shutil.which(c) is None]
    if missing:
        raise ConfigError(f"SLURM commands not found: {missing} (on this machine, start a one-node "
                          "cluster with `scripts/slurm_local.sh up`)")


def job_state(job_id: str | None) -> tuple[str, str]:
    """(STATE, reason) of a job: squeue while the controller knows it, then sacct, else GONE."""
    if job_id is None:
        return "GONE", "never submitted"
    out = _run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T|%r"])
    line = out.stdout.strip().splitlines()[:1] if out.returncode == 0 else []
    if line:
        state, _, reason = line[0].partition("|")
        return state.strip(), "" if reason.strip() in ("None", "") else reason.strip()
    if shutil.which("sacct"):
        acct = _run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"])
        if acct.returncode == 0 and acct.stdout.strip():
            return acct.stdout.split()[0].split()[0], "from sacct"
    return "GONE", "no longer known to squeue"


def _run(cmd: list[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=CMD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as err:
        raise ServerError(f"`{shlex.join(cmd)}` did not answer within {CMD_TIMEOUT_S:.0f} s") from err


def _mem(mem_gb: float) -> str:
    return "0" if not mem_gb else f"{max(1, int(round(float(mem_gb) * 1024)))}M"


# -- launch check ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    """One kind of job a launch would submit, in sbatch terms."""

    what: str  # for messages: "the driver job (hydra.launcher)", "server jobs (servers.slurm)"
    partition: str | None
    gpus: int
    cpus: int
    mem_gb: float
    time_min: int
    nodes: int = 1
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None


@dataclass(frozen=True)
class _Partition:
    name: str
    default: bool
    up: bool
    cpus: int  # most CPUs of one node
    mem_mb: int  # most memory of one node
    gpus: int  # most GPUs of one node
    nodes: int
    max_time_min: int | None  # None = unlimited


def check_slurm_launch(cfg: DictConfig) -> None:
    """Refuse, before anything is queued, a SLURM launch the cluster cannot run (ConfigError).

    Looks at the submitit_slurm launcher (`hydra.launcher`, when `cfg` has the hydra node) and at
    `servers.slurm`: SLURM commands present, partition exists and is up (the default one when not
    given), GPUs / CPUs / memory per node and the time limit within what the partition offers, then
    `sbatch --test-only` (the controller's own check, nothing submitted) for everything else.
    """
    _check_jobs(_jobs_of(cfg))


def _check_jobs(jobs: Sequence[_Job]) -> None:
    if not jobs:
        return
    require_slurm()
    partitions = _partitions()
    if not partitions:
        raise ConfigError("`sinfo` lists no partition: is slurmctld running? (scripts/slurm_local.sh up)")
    for job in jobs:
        part = _pick_partition(job, partitions)
        _check_fits(job, part)
        _test_only(job, part)


def _jobs_of(cfg: DictConfig) -> list[_Job]:
    jobs = []
    launcher = OmegaConf.select(cfg, "hydra.launcher", default=None)
    if launcher is not None and str(launcher.get("_target_", "")).endswith("SlurmLauncher"):
        jobs.append(_Job(
            what="the run's job (hydra.launcher, sized by cluster.*)",
            partition=launcher.get("partition"), gpus=int(launcher.get("gpus_per_node") or 0),
            cpus=int(launcher.get("cpus_per_task") or 1), mem_gb=float(launcher.get("mem_gb") or 0),
            time_min=int(launcher.get("timeout_min") or 60), nodes=int(launcher.get("nodes") or 1),
            account=launcher.get("account"), qos=launcher.get("qos"), constraint=launcher.get("constraint")))
    slurm = OmegaConf.select(cfg, "servers.slurm", default=None)
    if slurm is not None:
        jobs.append(_server_job(SlurmServerSpec.from_mapping(slurm)))
    return jobs


def _server_job(spec: SlurmServerSpec) -> _Job:
    return _Job(what="the evaluation server jobs (servers.slurm)", partition=spec.partition,
                gpus=spec.gpus_per_replica, cpus=spec.cpus_per_task, mem_gb=spec.mem_gb,
                time_min=spec.time_min, account=spec.account, qos=spec.qos, constraint=spec.constraint)


def _partitions() -> dict[str, _Partition]:
    out = _run(["sinfo", "-h", "-o", "%P|%a|%c|%m|%G|%D|%l"])
    if out.returncode != 0:
        raise ConfigError(f"`sinfo` failed: {(out.stderr or out.stdout).strip()} (is slurmctld running?)")
    parts: dict[str, _Partition] = {}
    for line in out.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 7:
            continue
        name, avail, cpus, mem, gres, nodes, limit = fields
        default = name.endswith("*")
        name = name.rstrip("*")
        prev = parts.get(name)
        part = _Partition(name=name, default=default, up=avail.strip() == "up", cpus=_int(cpus),
                          mem_mb=_int(mem), gpus=_gpus(gres), nodes=_int(nodes), max_time_min=_minutes(limit))
        if prev is not None:  # one line per node configuration: keep the largest
            part = dataclasses.replace(part, cpus=max(part.cpus, prev.cpus), mem_mb=max(part.mem_mb, prev.mem_mb),
                                       gpus=max(part.gpus, prev.gpus), nodes=part.nodes + prev.nodes,
                                       default=part.default or prev.default, up=part.up or prev.up)
        parts[name] = part
    return parts


def _pick_partition(job: _Job, partitions: Mapping[str, _Partition]) -> _Partition:
    names = ", ".join(sorted(partitions))
    if job.partition:
        if job.partition not in partitions:
            key = "servers.slurm.partition" if "servers" in job.what else "cluster.partition"
            raise ConfigError(f"SLURM partition {job.partition!r} ({key}) does not exist; "
                              f"partitions: {names}")
        part = partitions[job.partition]
    else:
        defaults = [p for p in partitions.values() if p.default]
        if not defaults:
            raise ConfigError(f"{job.what}: no partition given and the cluster has no default one; "
                              f"set one of: {names}")
        part = defaults[0]
    if not part.up:
        raise ConfigError(f"SLURM partition {part.name!r} is not up (sinfo); {job.what} could not start")
    return part


def _check_fits(job: _Job, part: _Partition) -> None:
    def no(what: str) -> ConfigError:
        return ConfigError(f"{job.what} asks for {what} on partition {part.name!r}, whose largest node has "
                           f"{part.gpus} GPU(s), {part.cpus} CPU(s), {part.mem_mb // 1024} GB")
    if job.gpus > part.gpus:
        raise no(f"{job.gpus} GPU(s) per node")
    if job.cpus > part.cpus:
        raise no(f"{job.cpus} CPU(s) per task")
    if job.mem_gb and job.mem_gb * 1024 > part.mem_mb:
        raise no(f"{job.mem_gb:g} GB of memory")
    if job.nodes > part.nodes:
        raise no(f"{job.nodes} node(s) (it has {part.nodes})")
    if part.max_time_min is not None and job.time_min > part.max_time_min:
        raise ConfigError(f"{job.what} asks for {job.time_min} min; partition {part.name!r} allows at most "
                          f"{part.max_time_min} min")


def _test_only(job: _Job, part: _Partition) -> None:
    cmd = ["sbatch", "--test-only", f"--partition={part.name}", f"--nodes={job.nodes}", "--ntasks=1",
           f"--cpus-per-task={job.cpus}", f"--time={job.time_min}", f"--mem={_mem(job.mem_gb)}",
           "--job-name=soce-check"]
    if job.gpus:
        cmd.append(f"--gpus-per-node={job.gpus}")
    for key in ("account", "qos", "constraint"):
        if getattr(job, key):
            cmd.append(f"--{key}={getattr(job, key)}")
    out = _run([*cmd, "--wrap", "true"])
    if out.returncode != 0:
        msg = " ".join((out.stderr or out.stdout).split()).replace("sbatch: error: ", "")
        raise ConfigError(f"SLURM refuses {job.what}: {msg} (`{shlex.join(cmd)}`)")


def _int(text: str) -> int:
    m = re.match(r"\d+", text.strip())
    return int(m.group()) if m else 0


def _gpus(gres: str) -> int:
    """GPUs per node from sinfo's GRES column, e.g. `gpu:8`, `gpu:a100:4(S:0-1)`, `(null)`."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _minutes(limit: str) -> int | None:
    """sinfo's time limit (`infinite`, `30:00`, `1-00:00:00`, `2:00:00`) in minutes."""
    limit = limit.strip()
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    h, m, s = ([0, 0, 0] + parts)[-3:]
    return (int(days) if days else 0) * 1440 + h * 60 + m + (1 if s else 0)
