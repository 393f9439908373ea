/**
 * The ext_authz port with fake verdicts: what it lets Envoy forward, the
 * headers it sets and removes, and the refusals of what ext_authz cannot
 * enforce (argument edits always; answer obligations and 2025 sessions
 * unless extAuthzUnenforceable is allow), batches whole or not at all, the
 * upstream credential, the identity stage's challenge.
 */
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../../src/decide/authorize.ts';
import type { Obligation } from '../../../src/decide/obligations.ts';
import { SarkError } from '../../../src/errors.ts';
import { ANONYMOUS } from '../../../src/identity/identity.ts';
import { ExtAuthzAdapter } from '../../../src/listen/ext-authz.ts';
import { DEFAULT_JSON_LIMITS } from '../../../src/mcp/strict-json.ts';
import { Answerer } from '../../../src/pipeline/answer.ts';
import { Exchange } from '../../../src/pipeline/exchange.ts';
import { type CheckResponse, ExtAuthzPort, type Unenforceable } from '../../../src/pipeline/ext-authz-port.ts';
import { ObligationsStage } from '../../../src/pipeline/stages.ts';

const adapter = new ExtAuthzAdapter({
  serverId: 'demo',
  maxBodyBytes: 65536,
  jsonLimits: DEFAULT_JSON_LIMITS,
  batchMode: 'per-element',
  batchMaxElements: 10,
});

function verdict(obligations: Obligation[] = [], refusal?: SarkError): Verdict {
  return {
    decision: { allow: refusal === undefined, reasons: [], document: undefined, failure: undefined, cacheHit: false },
    policyMs: 0,
    refusal,
    retryAfterSeconds: undefined,
    obligations,
    implied: [],
  };
}

/** Runs the port over one CheckRequest whose calls got `verdicts`; returns the reply and the exchange. */
async function answer(
  body: unknown,
  verdicts: Verdict[],
  options: { headers?: Record<string, string>; mode?: Unenforceable; port?: ExtAuthzPort } = {},
): Promise<{ res: CheckResponse; x: Exchange }> {
  let res: CheckResponse | undefined;
  const intake = await adapter.intake(
    {
      attributes: {
        request: {
          http: {
            method: 'POST',
            path: '/mcp',
            headers: { 'content-type': 'application/json', ...options.headers },
            raw_body: Buffer.from(JSON.stringify(body)),
          },
        },
      },
    },
    '127.0.0.1',
    (r) => {
      res = r as CheckResponse;
    },
    0,
  );
  const x = new Exchange(intake);
  x.identity = ANONYMOUS;
  const obligations = new ObligationsStage();
  x.calls.forEach((c, i) => {
    c.verdict = verdicts[i];
    obligations.run(x, c);
  });
  await (options.port ?? new ExtAuthzPort(new Answerer(), options.mode ?? 'deny')).deliver(x);
  return { res: res!, x };
}

const headers = (list: readonly { header: { key: string; value: string } }[] | undefined) =>
  Object.fromEntries((list ?? []).map((h) => [h.header.key, h.header.value]));
const call = (id: number, name = 'echo') => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: { pwd: 's3cret' } },
});
const errorOf = (res: CheckResponse) => JSON.parse(res.denied_response!.body).error;

describe('ext_authz port', () => {
  it('allows: request id set, credentials and routing headers removed, Mcp-Param-* never passed through', async () => {
    const { res, x } = await answer(call(1), [verdict()], {
      headers: { authorization: 'Bearer t', 'mcp-param-x': 'forged' },
    });
    expect(res.status.code).toBe(0);
    expect(headers(res.ok_response!.headers)).toEqual({ 'x-sark-request-id': x.meta.requestId });
    expect(res.ok_response!.headers_to_remove).toEqual([
      'mcp-method',
      'mcp-name',
      'mcp-param-x',
      'authorization',
      'x-api-key',
    ]);
    expect(x.calls[0]!.refused).toBeUndefined();
  });

  it('refuses a decision that edits the arguments, whatever extAuthzUnenforceable says', async () => {
    const edit: Obligation = {
      kind: 'edit_arguments',
      stage: 'obligations',
      edit: { replace: null, drop: [], redact: ['/pwd'], placeholder: '[REDACTED]' },
    };
    for (const mode of ['deny', 'allow'] as const) {
      const { res, x } = await answer(call(2), [verdict([edit])], { mode });
      expect(res.denied_response!.status.code).toBe(200);
      expect(errorOf(res)).toMatchObject({ code: -32003, message: expect.stringContaining('edits the arguments') });
      // Recorded as a refusal by SARK: the audit says deny.
      expect(x.calls[0]!.refused?.code).toBe('SARK_OBLIGATION_UNSUPPORTED');
    }
  });

  it('refuses an answer obligation (list filtering) unless told to let it through unenforced', async () => {
    const filter: Obligation = { kind: 'filter_tools', stage: 'forward', visible: new Set(['echo']) };
    const list = { jsonrpc: '2.0', id: 3, method: 'tools/list' };
    const denied = await answer(list, [verdict([filter])]);
    expect(errorOf(denied.res).message).toContain('filter_tools');
    expect(headers(denied.res.denied_response!.headers)['x-sark-error']).toBe('SARK_OBLIGATION_UNSUPPORTED');
    const allowed = await answer(list, [verdict([filter])], { mode: 'allow' });
    expect(allowed.res.ok_response).toBeDefined();
  });

  it('refuses a request of a 2025 session unless told to let it through unchecked; initialize passes', async () => {
    const session = { 'mcp-session-id': 'sess-1' };
    expect(errorOf((await answer(call(4), [verdict()], { headers: session })).res).message).toContain('session');
    expect((await answer(call(4), [verdict()], { headers: session, mode: 'allow' })).res.ok_response).toBeDefined();
    const init = { jsonrpc: '2.0', id: 5, method: 'initialize', params: { protocolVersion: '2025-06-18' } };
    expect((await answer(init, [verdict()])).res.ok_response).toBeDefined();
  });

  it('refuses a message SARK would forward rewritten (an initialize offering a later version)', async () => {
    const init = { jsonrpc: '2.0', id: 6, method: 'initialize', params: { protocolVersion: '2099-01-01' } };
    const { res } = await answer(init, [verdict()], { mode: 'allow' });
    expect(errorOf(res).message).toContain('rewritten');
  });

  it('answers a policy deny with the JSON-RPC error and status the MCP listener uses', async () => {
    const { res, x } = await answer(call(7, 'delete_file'), [
      verdict([], new SarkError('SARK_POLICY_DENIED', { publicDetail: 'no' })),
    ]);
    expect(res.status.code).toBe(7);
    expect(res.denied_response!.status.code).toBe(200);
    expect(JSON.parse(res.denied_response!.body)).toMatchObject({
      id: 7,
      error: { code: -32002, data: { request_id: x.meta.requestId } },
    });
  });

  it('a batch goes whole or not at all: one refused element refuses the others', async () => {
    const { res, x } = await answer(
      [call(8), call(9, 'delete_file'), { jsonrpc: '2.0', method: 'notifications/progress' }],
      [verdict(), verdict([], new SarkError('SARK_POLICY_DENIED')), verdict()],
    );
    const answers = JSON.parse(res.denied_response!.body);
    expect(answers.map((a: { id: number; error: { code: number } }) => [a.id, a.error.code])).toEqual([
      [8, -32600],
      [9, -32002],
    ]);
    expect(x.calls.map((c) => c.refused?.code)).toEqual([
      'SARK_BATCH_REJECTED',
      'SARK_POLICY_DENIED',
      'SARK_BATCH_REJECTED',
    ]);
    const ok = await answer([call(10), call(11)], [verdict(), verdict()]);
    expect(ok.res.ok_response!.headers_to_remove).toContain('mcp-method');
  });

  it("sets SARK's own upstream credential instead of removing the header; fails closed when it cannot get one", async () => {
    const port = new ExtAuthzPort(new Answerer(), 'deny', { upstreamAuthorization: () => 'Bearer sark-own' });
    const { res } = await answer(call(12), [verdict()], { port, headers: { authorization: 'Bearer client' } });
    expect(headers(res.ok_response!.headers).authorization).toBe('Bearer sark-own');
    expect(res.ok_response!.headers_to_remove).not.toContain('authorization');
    expect(res.ok_response!.headers_to_remove).toContain('x-api-key');
    const broken = new ExtAuthzPort(new Answerer(), 'deny', {
      upstreamAuthorization: () => Promise.reject(new SarkError('SARK_UPSTREAM_UNAVAILABLE')),
    });
    const failed = await answer(call(13), [verdict()], { port: broken });
    expect(failed.res.denied_response!.status.code).toBe(502);
    expect(failed.x.calls[0]!.refused?.code).toBe('SARK_UPSTREAM_UNAVAILABLE');
  });

  it("a refusal of the whole request carries the identity stage's challenge", async () => {
    const identity = { challenge: () => ({ status: 401, wwwAuthenticate: 'Bearer resource_metadata="m"' }) };
    let res: CheckResponse | undefined;
    const intake = await adapter.intake(
      { attributes: { request: { http: { method: 'GET', path: '/mcp', headers: {} } } } },
      undefined,
      (r) => {
        res = r as CheckResponse;
      },
      0,
    );
    const x = new Exchange(intake);
    x.failure = new SarkError('SARK_UNAUTHENTICATED');
    await new ExtAuthzPort(new Answerer(identity as never), 'deny').deliver(x);
    expect(res!.status.code).toBe(16);
    expect(res!.denied_response!.status.code).toBe(401);
    expect(headers(res!.denied_response!.headers)['www-authenticate']).toBe('Bearer resource_metadata="m"');
  });

  it('checks its option at construction', () => {
    expect(() => new ExtAuthzPort(new Answerer(), 'maybe' as never)).toThrow(/deny or allow/);
  });
});
