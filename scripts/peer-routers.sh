#!/usr/bin/env bash
# Installs the peer routers the routing benchmarks compare against, at pinned versions, each in its own venv under
# ~/.cache/aibrix-ts/peer-routers/<name>-<version>/ (idempotent: seconds when already there; ~60 MB of wheels the
# first time). Prints one line per router: name, version, and the command that starts it.
set -euo pipefail

SGLANG_ROUTER_VERSION=0.3.2
VLLM_ROUTER_VERSION=0.1.17
root="${XDG_CACHE_HOME:-$HOME/.cache}/aibrix-ts/peer-routers"

say() { printf '[peer-routers] %s\n' "$*" >&2; }

install() { # name version
  local venv="$root/$1-$2"
  if [ ! -f "$venv/.installed" ]; then
    say "installing $1 $2 into $venv (pip)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --progress-bar off "$1==$2"
    touch "$venv/.installed"
  fi
}

install sglang-router "$SGLANG_ROUTER_VERSION"
install vllm-router "$VLLM_ROUTER_VERSION"
printf 'sglang-router\t%s\t%s\n' "$SGLANG_ROUTER_VERSION" "$root/sglang-router-$SGLANG_ROUTER_VERSION/bin/python3 -m sglang_router.launch_router"
printf 'vllm-router\t%s\t%s\n' "$VLLM_ROUTER_VERSION" "$root/vllm-router-$VLLM_ROUTER_VERSION/bin/vllm-router"
