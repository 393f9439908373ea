/**
 * The sidecar's log lines about requests, read from a real sidecar logging at
 * debug: they carry request_id and trace_id, none is at info level, and no
 * credential or argument value appears at any level.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { type Sidecar, startSidecar } from '../../../src/sidecar.ts';
import { memoryLogger } from '../../support/audit-events.ts';
import { freePort } from '../../support/services.ts';
import { rawPost } from '../../support/sidecar.ts';

const TRACE = '5bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('request log lines', () => {
  let sidecar: Sidecar;
  const log = memoryLogger();

  beforeAll(async () => {
    // OPA "down": nothing listens on this port, so every decision is a fail-closed deny that is logged.
    const deadPort = await freePort();
    const config = loadConfig({
      argv: [
        '--listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
        '--audit-file',
        'off',
        '--opa-url',
        `http://127.0.0.1:${deadPort}`,
        '--policy-probe-interval-ms',
        '0',
      ],
      env: {},
    });
    sidecar = await startSidecar(config, log.logger);
  });

  afterAll(async () => {
    await sidecar?.close();
  });

  it('a request refused before the policy carries the trace id', async () => {
    log.lines.length = 0;
    const res = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0",', { traceparent: TRACEPARENT });
    expect(res.status).toBe(400);
    const line = log.lines.find((l) => l.msg === 'request refused')!;
    expect(line).toMatchObject({ level: 20, trace_id: TRACE, code: 'SARK_PARSE_ERROR' });
  });

  it('a policy failure line carries the request id the client got and the trace id; no info line per request; no secret', async () => {
    log.lines.length = 0;
    const res = await rawPost(
      sidecar.mcpUrl,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'argument-value-hunter2', password: 'pw-hunter2' } },
      }),
      { traceparent: TRACEPARENT },
    );
    expect(res.headers.get('x-sark-error')).toBe('SARK_POLICY_UNAVAILABLE');
    // Credentials SARK refuses are logged about, never logged.
    const refused = await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","id":3,"method":"ping"}', {
      authorization: 'Bearer token-hunter2',
      'x-api-key': 'key-hunter2',
    });
    expect(refused.status).toBe(401);
    const line = log.lines.find((l) => l.msg === 'no valid policy decision: request denied (fail-closed)')!;
    expect(line).toMatchObject({ level: 40, trace_id: TRACE, request_id: res.json.error.data.request_id });
    for (let i = 0; i < 20; i++) await rawPost(sidecar.mcpUrl, '{"jsonrpc":"2.0","id":2,"method":"ping"}');
    const text = log.lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toContain('hunter2');
    expect(log.lines.filter((l) => (l.level as number) === 30)).toEqual([]);
  });
});
