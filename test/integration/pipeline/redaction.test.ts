/**
 * A value the policy redacts reaches no sink, in any era or transport, nor
 * the debug log. Real OPA with a policy that redacts `/pwd` and
 * `/access_key` and asks for full audit; calls through the SDK v1 client
 * (2025 session), the SDK v2 client pinned to 2026-07-28, a raw JSON-RPC
 * batch, and the legacy HTTP+SSE client; sinks: the audit file, a Splunk
 * HEC stand-in and a Datadog intake stand-in; the log at debug level.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/observe/logger.ts';
import { type Sidecar, startSidecar } from '../../../src/sidecar.ts';
import { auditFileRows, until } from '../../support/audit-events.ts';
import { type LegacyServer, startLegacyServer } from '../../support/legacy-server.ts';
import { type Service, startOpa } from '../../support/services.ts';
import { connectV1Client, rawPost } from '../../support/sidecar.ts';
import { type SiemServer, startDatadogIntake, startSplunkHec } from '../../support/siem-servers.ts';
import { connectV2Client } from '../../support/v2-client.ts';
import { startV2Server, type V2Server } from '../../support/v2-server.ts';

const PWD = 'hunter2-sekret';
const KEY = 'AKIAIOSFODNN7EXAMPLE';
const POLICY = `package sark.gateway

redactions := {"replace": null, "drop": [], "redact": ["/pwd", "/access_key"], "placeholder": "[REDACTED]"}

default decision := {"allow": true, "reasons": [], "audit": {"level": "full"}}

decision := {"allow": true, "reasons": [], "obligations": {"arguments": redactions}, "audit": {"level": "full"}} if {
	input.action == "gateway:tool:invoke"
	input.tool.name != "delete_file"
}

decision := {
	"allow": false,
	"reasons": [{"code": "tool_denied", "message": "denied"}],
	"obligations": {"arguments": redactions},
	"audit": {"level": "full"},
} if {
	input.action == "gateway:tool:invoke"
	input.tool.name == "delete_file"
}
`;

describe('redacted arguments reach no sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sark-redact-'));
  const auditFile = join(dir, 'audit.ndjson');
  const log: string[] = [];
  let opa: Service;
  let v2: V2Server;
  let legacy: LegacyServer;
  let splunk: SiemServer;
  let datadog: SiemServer;
  let sidecar: Sidecar | undefined;

  beforeAll(async () => {
    writeFileSync(join(dir, 'policy.rego'), POLICY);
    [opa, v2, legacy, splunk, datadog] = await Promise.all([
      startOpa({ paths: [join(dir, 'policy.rego')] }),
      startV2Server({ responses: 'json' }),
      startLegacyServer(),
      startSplunkHec('hec-token'),
      startDatadogIntake('dd-key'),
    ]);
    const config = loadConfig({
      argv: [
        '--listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
        '--upstream-url',
        v2.url,
        '--upstream-sse-url',
        legacy.sseUrl,
        '--opa-url',
        opa.url,
        '--opa-timeout-ms',
        '2000',
        '--audit-file',
        auditFile,
        '--audit-spool-dir',
        join(dir, 'spool'),
        '--audit-flush-interval-ms',
        '50',
        '--splunk-hec-url',
        splunk.url,
        '--splunk-hec-token',
        'hec-token',
        '--datadog-api-key',
        'dd-key',
        '--datadog-logs-url',
        `${datadog.url}/api/v2/logs`,
      ],
      env: {},
    });
    const sink = new Writable({
      write(c, _e, cb) {
        log.push(String(c));
        cb();
      },
    });
    sidecar = await startSidecar(config, createLogger('trace', sink));
  });

  afterAll(async () => {
    await sidecar?.close();
    await Promise.all([opa?.stop(), v2?.close(), legacy?.close(), splunk?.close(), datadog?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('through every era and transport, allowed and denied', async () => {
    const args = { text: 'hello', pwd: PWD, access_key: KEY };
    const v1 = await connectV1Client(sidecar!.mcpUrl);
    await v1.callTool({ name: 'echo', arguments: args });
    await expect(v1.callTool({ name: 'delete_file', arguments: { path: '/x', ...args } })).rejects.toThrow(/denied/);
    await v1.close();

    const modern = await connectV2Client(sidecar!.mcpUrl, '2026-07-28');
    await modern.callTool({ name: 'echo', arguments: args });
    await modern.close();

    const batch = await rawPost(
      sidecar!.mcpUrl,
      JSON.stringify([
        { jsonrpc: '2.0', id: 'b1', method: 'tools/call', params: { name: 'echo', arguments: args } },
        { jsonrpc: '2.0', id: 'b2', method: 'tools/call', params: { name: 'delete_file', arguments: args } },
      ]),
    );
    expect(batch.status).toBe(200);

    const old = new Client({ name: 'legacy', version: '1' });
    await old.connect(new SSEClientTransport(new URL(`${sidecar!.dataUrl}/sse`)));
    await old.callTool({ name: 'echo', arguments: args });
    await old.close();

    // What the server got: the redacted arguments, never the secrets.
    const upstreamSaw = JSON.stringify([v2.received, legacy.received]);
    expect(upstreamSaw).toContain('[REDACTED]');
    expect(upstreamSaw).not.toContain(PWD);
    expect(upstreamSaw).not.toContain(KEY);

    await sidecar!.close();
    sidecar = undefined;
    await until(
      'both SIEM stand-ins to have every event',
      () => splunk.received.length >= 7 && datadog.received.length >= 7,
    );

    await until('the audit file to have every event', () => auditFileRows(auditFile).length >= 7);
    const file = readFileSync(auditFile, 'utf8');
    const rows = auditFileRows(auditFile);
    const calls = rows.filter((r) => r.method === 'tools/call');
    // The v2 server answers 2025 calls without a session: the v1 client's and the batch's are stateless.
    expect(calls.map((r) => [r.era, r.tool, r.decision]).sort()).toEqual(
      [
        ['2025-stateless', 'echo', 'allow'],
        ['2025-stateless', 'delete_file', 'deny'],
        ['2026', 'echo', 'allow'],
        ['2025-stateless', 'echo', 'allow'],
        ['2025-stateless', 'delete_file', 'deny'],
        ['legacy-sse', 'echo', 'allow'],
      ].sort(),
    );
    for (const r of calls) {
      const kept = JSON.parse(r.args_redacted);
      expect(kept.pwd).toBe('[REDACTED]');
      expect(kept.access_key).toBe('[REDACTED]');
      expect(kept.text).toBe('hello');
    }
    for (const [what, text] of [
      ['audit file', file],
      ['splunk', JSON.stringify(splunk.entries)],
      ['datadog', JSON.stringify(datadog.entries)],
      ['debug log', log.join('')],
    ] as const) {
      expect(text, what).not.toContain(PWD);
      expect(text, what).not.toContain(KEY);
    }
    expect(log.length).toBeGreaterThan(0);
  });
});
