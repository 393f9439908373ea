#!/bin/sh
# sark-redirect: transparent interception of an MCP server's port, run by the
# injected init container (root, NET_ADMIN + NET_RAW) in the pod's network
# namespace before any application container starts.
#
#   inbound   a connection from outside the pod to one of SARK_REDIRECT_PORTS
#             (nat PREROUTING) is redirected to SARK on SARK_PROXY_PORT, so
#             clients, Services and probes keep dialling the server's port;
#   in-pod    a connection made inside the pod to those ports (nat OUTPUT:
#             another container, via loopback or the pod IP) is redirected
#             too, EXCEPT when the socket belongs to SARK_PROXY_UID (or
#             SARK_PROXY_GID): SARK's own upstream connection to the server
#             must not be looped back to SARK. The same owner match Istio
#             (UID 1337) and Linkerd (UID 2102) use.
#
# Idempotent: the rules live in chains of their own (SARK_INBOUND,
# SARK_OUTPUT) that are flushed and refilled, and the jumps into them are
# added only once, so a restarted init container leaves one copy. IPv6 rules
# are installed the same way when ip6tables works in the namespace.
#
# Environment:
#   SARK_REDIRECT_PORTS   comma-separated TCP ports to intercept (required)
#   SARK_PROXY_PORT       SARK's data port in the pod (required)
#   SARK_PROXY_UID        UID SARK runs as (required)
#   SARK_PROXY_GID        GID whose sockets are also let through (optional)
#   SARK_IPTABLES         iptables command (default: iptables; ip6tables is derived)
#   SARK_REDIRECT_DRY_RUN=1  print the commands instead of running them
#   SARK_REDIRECT_CLEAN=1    remove the rules instead of installing them
set -eu

fail() { echo "sark-redirect: $*" >&2; exit 64; }

ports="${SARK_REDIRECT_PORTS:-}"
proxy_port="${SARK_PROXY_PORT:-}"
uid="${SARK_PROXY_UID:-}"
gid="${SARK_PROXY_GID:-}"
ipt4="${SARK_IPTABLES:-iptables}"

is_port() { case "$1" in '' | *[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_id() { case "$1" in '' | *[!0-9]*) return 1 ;; esac; }

old_ifs="$IFS"
if [ "${SARK_REDIRECT_CLEAN:-0}" != 1 ]; then
  [ -n "$ports" ] || fail "SARK_REDIRECT_PORTS is required (the MCP server's port)"
  is_port "$proxy_port" || fail "SARK_PROXY_PORT must be a port number, got '$proxy_port'"
  is_id "$uid" || fail "SARK_PROXY_UID must be a numeric UID, got '$uid'"
  [ -z "$gid" ] || is_id "$gid" || fail "SARK_PROXY_GID must be a numeric GID, got '$gid'"
  IFS=','
  for p in $ports; do
    is_port "$p" || fail "SARK_REDIRECT_PORTS: '$p' is not a port number"
    [ "$p" != "$proxy_port" ] || fail "SARK_REDIRECT_PORTS contains SARK_PROXY_PORT ($p): that would loop"
  done
  IFS="$old_ifs"
fi

run() {
  if [ "${SARK_REDIRECT_DRY_RUN:-0}" = 1 ]; then echo "$*"; else "$@"; fi
}

# install <iptables command>
install_rules() {
  ipt="$1"
  # The chains: created if missing, emptied if present (a re-run refills them).
  for chain in SARK_INBOUND SARK_OUTPUT; do
    run "$ipt" -w -t nat -N "$chain" 2>/dev/null || run "$ipt" -w -t nat -F "$chain"
  done
  IFS=','
  for p in $ports; do
    IFS="$old_ifs"
    run "$ipt" -w -t nat -A SARK_INBOUND -p tcp --dport "$p" -j REDIRECT --to-ports "$proxy_port"
    # SARK's own sockets (its connection to the server) go straight through.
    run "$ipt" -w -t nat -A SARK_OUTPUT -p tcp --dport "$p" -m owner --uid-owner "$uid" -j RETURN
    if [ -n "$gid" ]; then
      run "$ipt" -w -t nat -A SARK_OUTPUT -p tcp --dport "$p" -m owner --gid-owner "$gid" -j RETURN
    fi
    run "$ipt" -w -t nat -A SARK_OUTPUT -p tcp --dport "$p" -j REDIRECT --to-ports "$proxy_port"
    IFS=','
  done
  IFS="$old_ifs"
  # The jumps, once.
  "$ipt" -w -t nat -C PREROUTING -p tcp -j SARK_INBOUND 2>/dev/null ||
    run "$ipt" -w -t nat -A PREROUTING -p tcp -j SARK_INBOUND
  "$ipt" -w -t nat -C OUTPUT -p tcp -j SARK_OUTPUT 2>/dev/null ||
    run "$ipt" -w -t nat -A OUTPUT -p tcp -j SARK_OUTPUT
}

clean_rules() {
  ipt="$1"
  while "$ipt" -w -t nat -D PREROUTING -p tcp -j SARK_INBOUND 2>/dev/null; do :; done
  while "$ipt" -w -t nat -D OUTPUT -p tcp -j SARK_OUTPUT 2>/dev/null; do :; done
  for chain in SARK_INBOUND SARK_OUTPUT; do
    "$ipt" -w -t nat -F "$chain" 2>/dev/null || true
    "$ipt" -w -t nat -X "$chain" 2>/dev/null || true
  done
}

ipt6="$(printf '%s' "$ipt4" | sed 's/iptables/ip6tables/')"
families="$ipt4"
# IPv6 only where the namespace has it (a pod without IPv6 makes ip6tables fail).
if command -v "$ipt6" >/dev/null 2>&1 && "$ipt6" -w -t nat -S >/dev/null 2>&1; then families="$families $ipt6"; fi

for ipt in $families; do
  if [ "${SARK_REDIRECT_CLEAN:-0}" = 1 ]; then clean_rules "$ipt"; else install_rules "$ipt"; fi
done

if [ "${SARK_REDIRECT_CLEAN:-0}" = 1 ]; then
  echo "sark-redirect: rules removed"
else
  echo "sark-redirect: TCP ports $ports -> $proxy_port (inbound and in-pod; UID $uid${gid:+, GID $gid} exempt) via $families"
fi
