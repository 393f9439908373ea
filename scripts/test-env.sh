#!/usr/bin/env bash
# Installs what the test suite needs and is missing: OPA and promtool (built
# once per machine from the Go module proxy into a stable cache path), Redis
# and ClickHouse (Debian packages). Idempotent; fast when everything is present.
set -euo pipefail

OPA_VERSION="${SARK_OPA_VERSION:-v1.22.2}"
TOOLS_DIR="${SARK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sark/bin}"
OPA_DIR="$TOOLS_DIR/opa-$OPA_VERSION"

say() { printf '[test-env] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; return 1
  fi
}

if [ ! -x "$OPA_DIR/opa" ]; then
  command -v go >/dev/null || { say "Go is required to build OPA ($OPA_VERSION)"; exit 1; }
  say "building OPA $OPA_VERSION into $OPA_DIR (once per machine, about a minute)"
  mkdir -p "$OPA_DIR"
  (cd / && GOBIN="$OPA_DIR" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$OPA_VERSION")
fi

# promtool checks and unit-tests the alert rules in deploy/prometheus
# (test/unit/deploy/prometheus-rules.test.ts). Built with -tags remove_all_sd:
# promtool, for the alert rules' checks and unit tests (deploy/prometheus).
# By default it is taken from Debian's prometheus package (2.42, ~1 s: the
# package is downloaded, not installed, and only promtool is unpacked); built
# from the Go module proxy it took 17 minutes cold on this kind of machine
# (SARK_PROMTOOL_VERSION=v0.316.0 still does that, with -tags remove_all_sd:
# the service-discovery plugins are only for `check service-discovery`).
PROMTOOL_VERSION="${SARK_PROMTOOL_VERSION:-debian}"
PROMTOOL_DIR="$TOOLS_DIR/promtool-$PROMTOOL_VERSION"
if [ ! -x "$PROMTOOL_DIR/promtool" ] && [ -z "${SARK_PROMTOOL_BIN:-}" ]; then
  mkdir -p "$PROMTOOL_DIR"
  started=$(date +%s)
  if [ "$PROMTOOL_VERSION" = debian ]; then
    say "unpacking promtool from Debian's prometheus package into $PROMTOOL_DIR"
    deb="$(mktemp -d)"
    (cd "$deb" && apt-get download prometheus >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download prometheus >/dev/null; })
    dpkg-deb --fsys-tarfile "$deb"/prometheus_*.deb | tar -x -C "$deb" ./usr/bin/promtool
    mv "$deb/usr/bin/promtool" "$PROMTOOL_DIR/promtool"
    rm -rf "$deb"
  else
    command -v go >/dev/null || { say "Go is required to build promtool ($PROMTOOL_VERSION)"; exit 1; }
    say "building promtool $PROMTOOL_VERSION into $PROMTOOL_DIR (once per machine, several minutes)"
    (cd / && GOBIN="$PROMTOOL_DIR" GOFLAGS=-mod=mod go install -tags remove_all_sd -ldflags='-s -w' \
      "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION")
  fi
  say "promtool ready in $(( $(date +%s) - started )) s"
fi

# Regal is optional: the Go module proxy here refuses every Regal version (403),
# so a new machine cannot build it. The policy gates run it when it is present
# and say plainly that it was skipped otherwise; opa fmt, opa check --strict and
# the coverage gate do not depend on it. A failed attempt is remembered for a
# day so that each run does not pay for the refusal again.
REGAL_VERSION="${SARK_REGAL_VERSION:-v0.38.1}"
REGAL_DIR="$TOOLS_DIR/regal-$REGAL_VERSION"
REGAL_MARK="$TOOLS_DIR/regal-$REGAL_VERSION.unavailable"
if [ ! -x "$REGAL_DIR/regal" ] && [ -z "$(find "$REGAL_MARK" -mmin -1440 2>/dev/null)" ]; then
  say "trying to build Regal $REGAL_VERSION (optional) into $REGAL_DIR"
  mkdir -p "$REGAL_DIR"
  if (cd / && GOBIN="$REGAL_DIR" GOFLAGS=-mod=mod timeout 300 go install "github.com/open-policy-agent/regal@$REGAL_VERSION") 2>"$TOOLS_DIR/regal-build.log"; then
    say "Regal $REGAL_VERSION built"
  else
    say "Regal $REGAL_VERSION could not be built ($(grep -m1 -oE '[0-9]{3} [A-Za-z ]+|not available[^"]*' "$TOOLS_DIR/regal-build.log" || echo 'see regal-build.log')): regal lint will be skipped"
    touch "$REGAL_MARK"
  fi
fi

# Kubernetes admission tests (test/integration/inject): a real kube-apiserver on
# a real etcd. k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces
# its staging modules with local folders), so a throw-away module of ours
# imports its command and replaces each staging module with the published
# k8s.io/<name> v0.<minor>.<patch>. About 6 minutes on 2 cores, once per machine.
KUBE_VERSION="${SARK_KUBE_VERSION:-v1.37.2}"
KUBE_DIR="$TOOLS_DIR/kube-apiserver-$KUBE_VERSION"
if [ ! -x "$KUBE_DIR/kube-apiserver" ]; then
  command -v go >/dev/null || { say "Go is required to build kube-apiserver ($KUBE_VERSION)"; exit 1; }
  say "building kube-apiserver $KUBE_VERSION into $KUBE_DIR (once per machine, about 6 minutes)"
  started=$SECONDS
  src="$(mktemp -d)"
  trap 'rm -rf "$src"' EXIT
  kube_mod="$(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  staging="v0.${KUBE_VERSION#v1.}"
  {
    printf 'module sark.test/kube-apiserver\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
    sed -n "s#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\t\1 => \1 $staging#p" "$kube_mod"
    printf ')\n'
  } >"$src/go.mod"
  # The same main package as cmd/kube-apiserver/apiserver.go.
  cat >"$src/main.go" <<'GO'
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  mkdir -p "$KUBE_DIR"
  (cd "$src" && GOFLAGS=-mod=mod go mod tidy && go build -trimpath -ldflags "$ldflags" -o "$KUBE_DIR/kube-apiserver.tmp" .)
  mv "$KUBE_DIR/kube-apiserver.tmp" "$KUBE_DIR/kube-apiserver"
  rm -rf "$src"
  trap - EXIT
  say "kube-apiserver $KUBE_VERSION built in $((SECONDS - started)) s"
fi

# Helm, for the chart tests (helm lint, helm template).
HELM_VERSION="${SARK_HELM_VERSION:-v3.22.0}"
HELM_DIR="$TOOLS_DIR/helm-$HELM_VERSION"
if [ ! -x "$HELM_DIR/helm" ]; then
  command -v go >/dev/null || { say "Go is required to build Helm ($HELM_VERSION)"; exit 1; }
  say "building Helm $HELM_VERSION into $HELM_DIR (once per machine, about 2 minutes)"
  started=$SECONDS
  mkdir -p "$HELM_DIR"
  # As Helm's Makefile does: the version, and the Kubernetes version offline
  # rendering assumes (that of its k8s.io modules, 1.37 for v3.22); without
  # them `helm template` assumes Kubernetes 1.20.
  helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_ldflags="$helm_ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=37"
  done
  (cd / && GOBIN="$HELM_DIR" GOFLAGS=-mod=mod go install -ldflags "$helm_ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  say "Helm $HELM_VERSION built in $((SECONDS - started)) s"
fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
# etcd under the API server; iptables and iproute2 for the interception test in network namespaces.
command -v etcd >/dev/null || missing+=(etcd-server)
command -v iptables >/dev/null || missing+=(iptables)
command -v ip >/dev/null || missing+=(iproute2)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
# kubectl comes with the machine image (Debian's kubernetes-client is 1.20, too old for --validate=strict).
command -v kubectl >/dev/null || say "kubectl is not installed: the API server tests (test/integration/inject, charts) will be skipped"

[ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The packages' own daemons are not used: tests start private instances.
say "ready: opa $("$OPA_DIR/opa" version | head -1 | cut -d' ' -f2), promtool $PROMTOOL_VERSION, $(redis-server --version | cut -d' ' -f3), clickhouse $(ls /usr/sbin/clickhouse-server >/dev/null && echo present), kube-apiserver $KUBE_VERSION, helm $HELM_VERSION, $(iptables --version)"
