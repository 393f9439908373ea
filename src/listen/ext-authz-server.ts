/**
 * The Envoy ext_authz listener: a gRPC server for
 * `envoy.service.auth.v3.Authorization/Check`, on its own address
 * (`extAuthzListen`), plaintext or TLS (mTLS with `extAuthzTlsClientCaFile`).
 * Each Check becomes an Intake (ext-authz.ts) and runs through the pipeline;
 * the ext-authz port answers it. A Check the pipeline left unanswered (a
 * bug) gets gRPC INTERNAL, which Envoy with `failure_mode_allow: false`
 * turns into a deny.
 *
 * The protos are Envoy's own, as `@grpc/grpc-js-xds` ships them (its
 * `deps/` folders: envoy-api, googleapis, protoc-gen-validate, xds), loaded
 * with `@grpc/proto-loader`. This module is imported only when
 * `extAuthzListen` is set (sidecar.ts): one sidecar runs beside every MCP
 * pod, and the gRPC stack and the Envoy descriptors cost memory.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { SarkConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { type CheckRequest, ExtAuthzAdapter } from './ext-authz.ts';
import type { Flow } from './router.ts';
import type { BodyOptions } from './streamable-http.ts';

const PROTO = 'envoy/service/auth/v3/external_auth.proto';

/** The include directories of Envoy's protos inside @grpc/grpc-js-xds. */
export function envoyProtoDirs(): string[] {
  const root = dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(root, 'deps', d));
}

/**
 * The Authorization service definition and its client constructor, from
 * Envoy's protos. Fields keep their proto (snake_case) names; enums travel
 * as names; 64-bit integers as strings.
 */
export async function loadAuthorization(): Promise<grpc.ServiceClientConstructor> {
  const definition = await protoLoader.load(PROTO, {
    includeDirs: envoyProtoDirs(),
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  };
  return pkg.envoy.service.auth.v3.Authorization;
}

export type ExtAuthzConfig = Pick<
  SarkConfig,
  'extAuthzListen' | 'extAuthzTlsCertFile' | 'extAuthzTlsKeyFile' | 'extAuthzTlsClientCaFile' | 'maxBodyBytes'
>;

export interface ExtAuthzListener {
  /** host:port actually bound (the port resolved when 0 was asked). */
  readonly address: string;
  readonly tls: boolean;
  close(): Promise<void>;
}

/** Server credentials from the config; throws a ConfigError naming the field. */
function credentials(config: ExtAuthzConfig): grpc.ServerCredentials {
  const { extAuthzTlsCertFile: cert, extAuthzTlsKeyFile: key, extAuthzTlsClientCaFile: ca } = config;
  if (cert === undefined && key === undefined) {
    if (ca !== undefined)
      throw new ConfigError('extAuthzTlsClientCaFile: needs extAuthzTlsCertFile and extAuthzTlsKeyFile');
    return grpc.ServerCredentials.createInsecure();
  }
  if (cert === undefined || key === undefined) {
    throw new ConfigError('extAuthzTlsCertFile and extAuthzTlsKeyFile: set both or neither');
  }
  const read = (field: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${field}: cannot read ${path} (${(err as Error).message})`);
    }
  };
  return grpc.ServerCredentials.createSsl(
    ca === undefined ? null : read('extAuthzTlsClientCaFile', ca),
    [{ cert_chain: read('extAuthzTlsCertFile', cert), private_key: read('extAuthzTlsKeyFile', key) }],
    ca !== undefined,
  );
}

/** The address part of grpc-js's `getPeer()` ("addr:port"; IPv6 unbracketed); undefined when unknown. */
export function peerAddress(peer: string): string | undefined {
  const i = peer.lastIndexOf(':');
  if (peer === 'unknown' || i <= 0) return undefined;
  return peer.slice(0, i).replace(/^\[|\]$/g, '');
}

/**
 * Starts the ext_authz listener; every Check goes to `flow` (the pipeline).
 *
 * @example
 * const ext = await startExtAuthz(config, bodyOptions, (intake) => pipeline.run(intake), logger);
 * // Envoy: grpc_service.envoy_grpc → a cluster at ext.address
 */
export async function startExtAuthz(
  config: ExtAuthzConfig,
  bodyOptions: BodyOptions,
  flow: Flow,
  logger: Logger,
): Promise<ExtAuthzListener> {
  const listen = config.extAuthzListen;
  if (listen === undefined) throw new ConfigError('extAuthzListen: required to start the ext_authz listener');
  const creds = credentials(config);
  // The same body limits, parser limits and batch rules as the MCP listener's adapter.
  const adapter = new ExtAuthzAdapter(bodyOptions);
  const Authorization = await loadAuthorization();
  const server = new grpc.Server({
    // A CheckRequest carries the body (up to maxBodyBytes, twice if Envoy sends both forms) and the headers.
    'grpc.max_receive_message_length': 2 * config.maxBodyBytes + 1024 * 1024,
  });
  server.addService(Authorization.service, {
    Check(call: grpc.ServerUnaryCall<CheckRequest, unknown>, callback: grpc.sendUnaryData<unknown>): void {
      const t0 = performance.now();
      let answered = false;
      const reply = (response: unknown) => {
        if (answered) return;
        answered = true;
        callback(null, response);
      };
      const unanswered = (why: unknown) => {
        if (answered) return;
        answered = true;
        logger.error({ err: (why as Error)?.message }, 'ext_authz Check left unanswered by the pipeline; denied');
        callback({ code: grpc.status.INTERNAL, details: 'SARK could not decide' });
      };
      adapter
        .intake(call.request, peerAddress(call.getPeer()), reply, t0)
        .then(flow)
        .then(
          () => unanswered('no answer'),
          (err: unknown) => unanswered(err),
        );
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, creds, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  const host = listen.slice(0, listen.lastIndexOf(':'));
  const tls = config.extAuthzTlsCertFile !== undefined;
  return {
    address: `${host}:${port}`,
    tls,
    close: () =>
      new Promise<void>((resolve) => {
        // Checks in flight finish within Envoy's own timeout; past two seconds they are cut.
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
