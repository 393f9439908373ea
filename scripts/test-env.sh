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
# promtool links every service-discovery plugin (Kubernetes, AWS, Azure, GCE…)
# only for `check service-discovery`, which we do not use; without them the
# build downloads and compiles about half as much (measured cold: 6 min of CPU
# instead of 13.5; see docs/observability.md).
PROMTOOL_VERSION="${SARK_PROMTOOL_VERSION:-v0.316.0}"
PROMTOOL_DIR="$TOOLS_DIR/promtool-$PROMTOOL_VERSION"
if [ ! -x "$PROMTOOL_DIR/promtool" ] && [ -z "${SARK_PROMTOOL_BIN:-}" ]; then
  command -v go >/dev/null || { say "Go is required to build promtool ($PROMTOOL_VERSION)"; exit 1; }
  say "building promtool $PROMTOOL_VERSION into $PROMTOOL_DIR (once per machine, several minutes)"
  mkdir -p "$PROMTOOL_DIR"
  started=$(date +%s)
  (cd / && GOBIN="$PROMTOOL_DIR" GOFLAGS=-mod=mod go install -tags remove_all_sd -ldflags='-s -w' \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION")
  say "promtool built in $(( $(date +%s) - started )) s"
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

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The packages' own daemons are not used: tests start private instances.
say "ready: opa $("$OPA_DIR/opa" version | head -1 | cut -d' ' -f2), promtool $PROMTOOL_VERSION, $(redis-server --version | cut -d' ' -f3), clickhouse $(ls /usr/sbin/clickhouse-server >/dev/null && echo present)"
