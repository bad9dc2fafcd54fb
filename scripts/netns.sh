#!/usr/bin/env bash
# Runs a command inside a private network namespace in which the pod range (10.244.0.0/16, or
# AIBRIX_TS_NETNS_RANGE) is routed to the loopback interface: a process can listen on any address of it and reach
# it, kwok's pod IPs are addresses EndpointSlices accept, and no packet leaves the namespace.
#
#   scripts/netns.sh <command> [args...]
#
# As root it uses `unshare -n`; otherwise `unshare -rn` (a user namespace maps the caller to root inside). Running it
# again inside such a namespace runs the command directly.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: scripts/netns.sh <command> [args...]" >&2
  exit 2
fi
range="${AIBRIX_TS_NETNS_RANGE:-10.244.0.0/16}"

if [[ "${AIBRIX_TS_NETNS:-}" == "$range" ]]; then
  exec "$@"
fi

fail() {
  printf 'scripts/netns.sh: %s\n' "$*" >&2
  exit 1
}

command -v unshare >/dev/null || fail "unshare is missing (package util-linux); install it and run again"
command -v ip >/dev/null || fail "ip is missing (package iproute2); install it and run again"
if [[ "$(id -u)" -eq 0 ]]; then flags=(-n); else flags=(-r -n); fi
if ! why="$(unshare "${flags[@]}" true 2>&1)"; then
  fail "cannot create a network namespace (unshare ${flags[*]}: ${why:-no reason given}).
  As a normal user this needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or
  kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu); inside a container it needs CAP_SYS_ADMIN
  (docker run --cap-add SYS_ADMIN, or --privileged). Or run as root."
fi

export AIBRIX_TS_NETNS="$range"
exec unshare "${flags[@]}" -- bash -c '
  set -e
  ip link set lo up
  ip route add local "$1" dev lo
  shift
  exec "$@"
' netns "$range" "$@"
