#!/usr/bin/env bash
# What:  a real one-node SLURM cluster on this machine (slurmctld + slurmd + munged), the laptop
#        stand-in for a GPU cluster: `cluster=slurm` multiruns and `servers.slurm` server jobs run
#        on it exactly as they would on a cluster, only with CPU jobs.
# Usage: scripts/slurm_local.sh up|down|status        (as root; Debian/Ubuntu)
#   up      install slurm-wlm + munge if missing (apt-get), write /etc/slurm/slurm.conf for this
#           host (CPUs and memory from `slurmd -C`), start the daemons that are not running, wait
#           until `sinfo` shows the node idle. Idempotent: a second `up` changes nothing.
#   down    stop exactly the daemons `up` started (pids in $STATE_DIR), nothing else.
#   status  daemons, pids, sinfo and squeue.
# Sizing: the node advertises SOCE_SLURM_CPUS CPUs (default 4 x cores, at least 8) so that several
#         one-core jobs (a driver job next to its server job, a 2-seed sweep) run at once on a small
#         box (SlurmdParameters=config_overrides), and 90 % of the memory slurmd detects.
# How long: ~30 s the first time (apt-get), ~5 s afterwards.
set -euo pipefail

STATE_DIR=${SOCE_SLURM_STATE_DIR:-/run/soce-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by soce_bo scripts/slurm_local.sh"
PARTITION=${SOCE_SLURM_PARTITION:-debug}
WAIT_S=${SOCE_SLURM_WAIT_S:-60}

log() { echo "slurm_local: $*" >&2; }
die() { echo "error: slurm_local: $*" >&2; exit 2; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts daemons)"; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return
  fi
  log "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2
}

# pid of a daemon we started, if it is still alive and still that program
live_pid() {  # NAME
  local f=$STATE_DIR/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -qa "$1" "/proc/$pid/cmdline" 2>/dev/null
}

# pid from a daemon's own pid file, when it was started by someone else
foreign_pid() {  # PIDFILE NAME
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null
}

write_conf() {
  local host cpus mem detected
  host=$(hostname -s)
  detected=$(slurmd -C | head -1)  # NodeName=vm CPUs=2 ... RealMemory=23988
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
  [[ -n $mem ]] || die "could not read RealMemory from 'slurmd -C': $detected"
  mem=$(( mem * 9 / 10 ))
  cpus=${SOCE_SLURM_CPUS:-$(( $(nproc) * 4 ))}
  (( cpus >= 8 )) || cpus=8
  if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite a real cluster's config"
  fi
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$STATE_DIR"
  local tmp=$CONF.tmp.$$
  cat >"$tmp" <<EOF
$MARK
# one node ($host): controller and compute on this machine. Detected: $detected
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=$STATE_DIR/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/slurmd.daemon.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
# no accounting database: finished jobs stay visible to scontrol for MinJobAge seconds
MinJobAge=600
KillWait=10
# more CPUs than cores on purpose: several one-core jobs share this small machine
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"; return 1  # unchanged
  fi
  mv "$tmp" "$CONF"
  log "wrote $CONF ($cpus CPUs, ${mem} MB)"
  return 0
}

start_munge() {
  if live_pid munged || foreign_pid /run/munge/munged.pid munged; then return; fi
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 400 /etc/munge/munge.key
  munged --force --pid-file="$STATE_DIR/munged.daemon.pid" 2>/dev/null \
    || munged --force 2>/dev/null
  local pid
  for _ in $(seq 50); do
    pid=$(cat "$STATE_DIR/munged.daemon.pid" /run/munge/munged.pid 2>/dev/null | head -1 || true)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && break
    sleep 0.1
  done
  [[ -n ${pid:-} ]] || die "munged did not start"
  echo "$pid" >"$STATE_DIR/munged.pid"
  log "munged started (pid $pid)"
}

start_daemon() {  # slurmctld | slurmd
  local name=$1 pid
  if live_pid "$name" || foreign_pid "$STATE_DIR/$name.daemon.pid" "$name"; then return; fi
  "$name" >&2 || die "$name failed to start; see /var/log/slurm/$name.log"
  for _ in $(seq 50); do
    pid=$(cat "$STATE_DIR/$name.daemon.pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && break
    sleep 0.1
  done
  [[ -n ${pid:-} ]] || die "$name did not write its pid file; see /var/log/slurm/$name.log"
  echo "$pid" >"$STATE_DIR/$name.pid"
  log "$name started (pid $pid)"
}

wait_idle() {
  local host state
  host=$(hostname -s)
  for _ in $(seq $(( WAIT_S * 2 ))); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1 || true)
    case $state in
      idle|mixed|allocated) log "node $host is $state (partition $PARTITION)"; return ;;
      down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  die "node $host not idle after ${WAIT_S}s (state '${state:-none}'); see /var/log/slurm/slurmd.log"
}

up() {
  need_root
  install_packages
  mkdir -p "$STATE_DIR"
  local changed=0
  write_conf && changed=1
  start_munge
  if (( changed )) && { live_pid slurmctld || live_pid slurmd; }; then
    log "slurm.conf changed: restarting our daemons"
    stop_ours slurmd slurmctld
  fi
  start_daemon slurmctld
  start_daemon slurmd
  wait_idle
}

stop_ours() {  # NAME...
  local name pid
  for name in "$@"; do
    if live_pid "$name"; then
      pid=$(<"$STATE_DIR/$name.pid")
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      log "stopped $name (pid $pid)"
    fi
    rm -f "$STATE_DIR/$name.pid"
  done
}

down() {
  need_root
  stop_ours slurmd slurmctld munged
}

status() {
  local name
  for name in munged slurmctld slurmd; do
    if live_pid "$name"; then echo "$name: running (pid $(<"$STATE_DIR/$name.pid"), started by slurm_local.sh)"
    else echo "$name: not started by slurm_local.sh"; fi
  done
  command -v sinfo >/dev/null || { echo "slurm not installed"; return 1; }
  sinfo 2>&1 || true
  squeue 2>&1 || true
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
