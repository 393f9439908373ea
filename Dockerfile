# syntax=docker/dockerfile:1.7
# SARK sidecar image: Node 24 LTS, compiled JavaScript, the compiled policy
# bundle for the embedded evaluator, the ClickHouse migrations for
# `sark migrate`, production dependencies only, non-root.
#
# Not in the image: the bundled demo MCP server (src/demo, left out of dist/ by
# tsconfig.build.json) and its MCP SDK (a devDependency). Without
# SARK_UPSTREAM_URL the container stops at start-up with a configuration error.
# The demo has its own target (`--target demo`), the example upstream of
# deploy/compose and deploy/k8s.

ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The `node` devDependency pins Node 24 for npm scripts on hosts with an older
# Node; the image already is Node 24, so its install script is skipped.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# The example MCP server of deploy/compose and deploy/k8s, built with
# `docker build --target demo -t sark-demo .`: the bundled demo and the MCP
# SDK it needs, run from the sources (Node 24 strips the types). Not the
# sidecar image, which has neither.
FROM build AS demo
USER node
EXPOSE 3000
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["demo-server", "--listen", "0.0.0.0:3000", "--path", "/mcp"]

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim
LABEL org.opencontainers.image.title="sark" \
      org.opencontainers.image.description="Inline authorization sidecar for MCP servers" \
      org.opencontainers.image.licenses="Apache-2.0"
# The audit file and the audit spool live in /var/lib/sark, the one directory
# the `node` user may write (the rest of the image is root-owned and read-only
# to it). Mount a volume there (Kubernetes: an emptyDir whose sizeLimit is
# above (auditFileMaxFiles + 1) × auditFileMaxBytes plus auditSpoolMaxBytes),
# or set SARK_AUDIT_STDOUT=true and SARK_AUDIT_FILE=off to audit to stdout.
# --max-semi-space-size=4 (MiB): V8's young generation grows to 2 × 16 MiB by
# default; a sidecar's per-request garbage dies young in far less. Measured on
# the SDK workload at 1000 req/s (docs/loadtest.md): RSS 272 → 198 MiB, idle
# 117 → 108 MiB, CPU per call within the run-to-run noise. The load test runs
# SARK with these same options (loadtest/parties.ts reads them from here).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=4" \
    SARK_LISTEN=0.0.0.0:8080 \
    SARK_ADMIN_LISTEN=0.0.0.0:9090 \
    SARK_AUDIT_FILE=/var/lib/sark/audit.ndjson \
    SARK_AUDIT_SPOOL_DIR=/var/lib/sark/spool
# iptables for the injected init container, which runs this image's
# sark-redirect (deploy/iptables/sark-redirect.sh) as root with NET_ADMIN; the
# sidecar itself runs as a non-root UID and never uses it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
COPY --chown=root:root --chmod=0755 deploy/iptables/sark-redirect.sh /usr/local/bin/sark-redirect
WORKDIR /app
RUN mkdir -p /var/lib/sark && chown node:node /var/lib/sark && chmod 0750 /var/lib/sark
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root opa/build ./opa/build
COPY --chown=root:root deploy/clickhouse/migrations ./deploy/clickhouse/migrations
USER node
VOLUME ["/var/lib/sark"]
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/sark.js"]
CMD ["serve"]
