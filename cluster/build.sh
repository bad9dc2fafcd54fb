#!/usr/bin/env bash
# Builds the loopback control plane from Go modules into a cache outside the
# repository, and prints `BIN_DIR=<dir>` as its last line.
#
#   cluster/build.sh            build what is missing (idempotent; quick when cached)
#   cluster/build.sh --print    print BIN_DIR=<dir> without building
#
# The cache directory is keyed by the pinned versions and a hash of the Go
# module files, so a version bump builds into a fresh directory. Binaries:
#   k8s (multi-call) + symlinks kube-apiserver, kube-controller-manager,
#   kube-scheduler, etcd, kubectl; kwok; helm; ray-operator (+ its CRDs in ../crds/ray).
# Environment: AIBRIX_TS_CACHE (default ~/.cache/aibrix-ts), GO (default go),
# BUILD_PARALLELISM (default 2; the machine is small and shared).
set -euo pipefail

K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.4 # the etcd line kube-apiserver 1.34 itself is built against
KWOK_VERSION=v0.7.0
HELM_VERSION=v3.19.5
KUBERAY_VERSION=v1.5.1 # the KubeRay operator (ray-operator), built on the same Kubernetes 0.34 client line
# Bump when the build recipe (flags, binaries) changes, so caches from an older recipe are not reused.
RECIPE=2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/go"
go_bin="${GO:-go}"
cache_root="${AIBRIX_TS_CACHE:-$HOME/.cache/aibrix-ts}"
parallelism="${BUILD_PARALLELISM:-2}"

key="$( (echo "$RECIPE $K8S_VERSION $ETCD_VERSION $KWOK_VERSION $HELM_VERSION $KUBERAY_VERSION" &&
  cat "$mod/go.mod" "$mod/go.sum" "$mod/cmd/k8s/main.go" "$here/go-kuberay/go.mod" "$here/go-kuberay/go.sum") |
  sha256sum | cut -c1-12)"
out="$cache_root/k8s-$K8S_VERSION-$key"
bin="$out/bin"

if [[ "${1:-}" == "--print" ]]; then
  echo "BIN_DIR=$bin"
  exit 0
fi

say() { printf '[cluster-build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Complete when every binary (and the KubeRay CRDs) is there; otherwise build only what is missing.
complete=1
for name in k8s kwok helm ray-operator; do [[ -x "$bin/$name" ]] || complete=0; done
[[ -d "$out/crds/ray" ]] || complete=0
if [[ -f "$bin/.complete" && $complete == 1 ]]; then
  say "cached: $bin"
  echo "BIN_DIR=$bin"
  exit 0
fi

command -v "$go_bin" >/dev/null || {
  say "no Go toolchain: install Go >= 1.24 (or set GO=/path/to/go) and run again"
  exit 1
}
mkdir -p "$bin"
started=$SECONDS

# Streams `go build -v` package names as a running count, so a 20-minute build
# shows it is alive without flooding the terminal.
progress() {
  local label="$1" n=0 line
  while IFS= read -r line; do
    if [[ "$line" == *:* || "$line" == *" "* ]]; then
      printf '%s\n' "$line" >&2 # compiler messages and errors pass through whole
    else
      n=$((n + 1))
      if ((n % 50 == 0)); then say "$label: compiled $n packages ($((SECONDS - started))s)"; fi
    fi
  done
}

ldflags_k8s="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags_k8s+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
  ldflags_k8s+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

if [[ ! -x "$bin/k8s" ]]; then
  say "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION and etcd $ETCD_VERSION (one binary)"
  (cd "$mod" && "$go_bin" build -mod=readonly -p "$parallelism" -v -trimpath -ldflags "$ldflags_k8s" \
    -o "$bin/k8s.tmp" ./cmd/k8s) 2>&1 | progress k8s
  mv "$bin/k8s.tmp" "$bin/k8s"
fi
for name in kube-apiserver kube-controller-manager kube-scheduler etcd kubectl; do
  ln -sf k8s "$bin/$name"
done

if [[ ! -x "$bin/kwok" ]]; then
  say "building kwok $KWOK_VERSION"
  tmp="$out/gobin-kwok"
  mkdir -p "$tmp"
  GOBIN="$tmp" "$go_bin" install -p "$parallelism" -v -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" 2>&1 | progress kwok
  mv "$tmp/kwok" "$bin/kwok"
fi

if [[ ! -x "$bin/helm" ]]; then
  say "building helm $HELM_VERSION"
  tmp="$out/gobin-helm"
  mkdir -p "$tmp"
  # helm's own Makefile stamps the Kubernetes version it assumes (else `helm template` pretends to be 1.20).
  helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=34"
  done
  GOBIN="$tmp" "$go_bin" install -p "$parallelism" -v -trimpath -ldflags "$helm_ldflags" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>&1 | progress helm
  mv "$tmp/helm" "$bin/helm"
fi

if [[ ! -x "$bin/ray-operator" || ! -d "$out/crds/ray" ]]; then
  say "building the KubeRay operator $KUBERAY_VERSION"
  # A module of its own (go-kuberay/, a go.mod `tool`): `go install …@version` would ask the proxy for the
  # module's version list, which it refuses for this subdirectory module.
  (cd "$here/go-kuberay" && "$go_bin" build -mod=readonly -p "$parallelism" -v -trimpath -ldflags "-s -w" \
    -o "$bin/ray-operator.tmp" github.com/ray-project/kuberay/ray-operator) 2>&1 | progress kuberay
  mv "$bin/ray-operator.tmp" "$bin/ray-operator"
  # Its CRDs ship in the module zip; keep a copy next to the binary.
  src="$("$go_bin" env GOMODCACHE)/github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION/config/crd/bases"
  mkdir -p "$out/crds/ray.tmp"
  cp "$src"/*.yaml "$out/crds/ray.tmp/"
  chmod -R u+w "$out/crds/ray.tmp"
  rm -rf "$out/crds/ray" && mv "$out/crds/ray.tmp" "$out/crds/ray"
fi

"$bin/kube-apiserver" --version >&2
"$bin/etcd" --version | sed -n 1p >&2
"$bin/kwok" --version >&2 || true
"$bin/helm" version --short >&2
touch "$bin/.complete"
say "done in $((SECONDS - started))s: $bin"
echo "BIN_DIR=$bin"
