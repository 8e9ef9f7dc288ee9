#!/usr/bin/env bash
# What:  start N soce_bo evaluation servers on this machine, each pinned to its own CPU core (CPU)
#        or GPU, each registering its URL in RUN_DIR/servers/ so a driver can use them:
#          python -m soce_bo.run +experiment=demo servers.url_dir=RUN_DIR/servers
# Where: any machine with the venv (`make install`); loopback only.
# How long: ~20-40 s until every server answers /health; they run until Ctrl-C (which stops all).
# Usage: runners/local.sh RUN_DIR N MODEL_DIR [MODEL_DIR ...]   (SOCE_PYTHON: the venv's Python,
#        default <repo>/.venv/bin/python)
set -euo pipefail
if (( $# < 3 )); then
  echo "usage: $0 RUN_DIR N MODEL_DIR [MODEL_DIR ...]" >&2; exit 2
fi
run_dir=$1; n=$2; shift 2
pool=$(printf '%s,' "$@"); pool="[${pool%,}]"
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${SOCE_PYTHON:-$repo/.venv/bin/python}
mkdir -p "$run_dir/servers"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for ((i = 0; i < n; i++)); do
  "$py" -m soce_bo.serve "pool=$pool" "server.cpu_bind=$i" \
    "register_dir=$run_dir/servers" > "$run_dir/servers/replica$i.log" 2>&1 &
  pids+=($!)
done
echo "started $n server(s); logs and URLs in $run_dir/servers/ (Ctrl-C stops them)"
wait
