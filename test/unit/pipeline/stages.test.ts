/**
 * The stage list driven with fakes for the pure parts (identity, policy,
 * port, recorder): no OPA, no upstream. What is checked is the flow itself —
 * order, fail-closed refusals, obligations enforced or refused by the stage
 * they address, batches per element, one request id, truthful counts.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Authorizer } from '../../../src/decide/authorize.ts';
import { Bindings } from '../../../src/decide/bindings.ts';
import { toDecision } from '../../../src/decide/decision.ts';
import type { PolicyInput } from '../../../src/decide/input.ts';
import { SarkError } from '../../../src/errors.ts';
import { ANONYMOUS } from '../../../src/identity/identity.ts';
import type { Intake, IntakeMessage } from '../../../src/listen/intake.ts';
import { classify } from '../../../src/mcp/classify.ts';
import { createLogger } from '../../../src/observe/logger.ts';
import { createMetrics } from '../../../src/observe/metrics.ts';
import type { Exchange } from '../../../src/pipeline/exchange.ts';
import { Pipeline } from '../../../src/pipeline/flow.ts';
import type { Port } from '../../../src/pipeline/ports.ts';
import {
  DecideStage,
  ForwardStage,
  IdentityStage,
  ObligationsStage,
  RecordStage,
  type Stage,
} from '../../../src/pipeline/stages.ts';
import type { AuditEvent } from '../../../src/record/event.ts';

const quiet = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));

class CapturingPort implements Port {
  readonly delivered: Exchange[] = [];
  async deliver(x: Exchange): Promise<void> {
    this.delivered.push(x);
  }
}

type Policy = (input: PolicyInput) => Record<string, unknown> | Error;

function build(policy: Policy, opts: { identity?: () => typeof ANONYMOUS; concurrency?: number } = {}) {
  const metrics = createMetrics();
  const port = new CapturingPort();
  const events: AuditEvent[] = [];
  const inputs: PolicyInput[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const authorizer = new Authorizer({
    decide: async (input) => {
      inputs.push(input);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      const out = policy(input);
      if (out instanceof Error) {
        return {
          allow: false,
          reasons: [{ code: 'policy_unavailable' }],
          document: undefined,
          failure: new SarkError('SARK_POLICY_UNAVAILABLE'),
        };
      }
      return toDecision(out);
    },
    bindings: new Bindings({ maxEntries: 100, sessionIdleTtlMs: 60_000, taskTtlMs: 60_000 }),
    subscriptionMaxUris: 3,
    concurrency: opts.concurrency ?? 4,
    logger: quiet,
    countDecision: () => {},
  });
  const stages: Stage[] = [
    new IdentityStage({ resolve: opts.identity ?? (() => ANONYMOUS) }),
    new DecideStage(authorizer),
    new ObligationsStage(),
    new ForwardStage(new Map([['streamable-http', port]])),
    new RecordStage({ record: (e) => events.push(e), close: async () => {} }, metrics),
  ];
  const pipeline = new Pipeline(stages, opts.concurrency ?? 4, quiet);
  return { pipeline, port, events, inputs, metrics, maxInFlight: () => maxInFlight };
}

function intake(messages: unknown[], batch = messages.length > 1): Intake {
  const list: IntakeMessage[] = messages.map((m) => {
    const msg = classify(m as never, {});
    return { label: msg.method ?? 'response', msg, error: undefined, id: msg.id };
  });
  return {
    transport: 'streamable-http',
    meta: {
      requestId: 'req-1',
      serverId: 'demo',
      httpMethod: 'POST',
      path: '/mcp',
      clientAddress: '127.0.0.1',
      userAgent: undefined,
      sessionId: undefined,
      transport: 'streamable-http',
      nowMs: Date.now(),
      t0: performance.now(),
      traceparent: undefined,
    },
    headers: {},
    req: undefined,
    res: undefined,
    messages: list,
    batch,
    failure: undefined,
    label: 'http:post',
  };
}

const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

async function count(p: ReturnType<typeof build>, outcome: string): Promise<number> {
  const m = await p.metrics.requests.get();
  return m.values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
}

describe('the stage list', () => {
  it('is declared once, in order, and refuses to be built out of order', () => {
    const p = build(() => ({ allow: true }));
    expect(p.pipeline.stageNames).toEqual(['identity', 'decide', 'obligations', 'forward', 'record']);
    expect(() => new Pipeline([], 1, quiet)).toThrow(/out of order/);
  });

  it('an allowed call reaches the port with its argument edits applied, and the audit keeps only the edited arguments', async () => {
    const p = build(() => ({
      allow: true,
      obligations: { arguments: { replace: null, drop: ['/debug'], redact: ['/pwd'], placeholder: '[R]' } },
      audit: { level: 'full' },
    }));
    await p.pipeline.run(intake([call(1, 'login', { user: 'bob', pwd: 'hunter2', debug: true })]));
    const x = p.port.delivered[0]!;
    expect(x.calls[0]!.outbound).toEqual(call(1, 'login', { user: 'bob', pwd: '[R]' }));
    expect(p.events).toHaveLength(1);
    expect(JSON.stringify(p.events[0])).not.toContain('hunter2');
    expect(JSON.parse(p.events[0]!.args_redacted!)).toEqual({ user: 'bob', pwd: '[R]' });
  });

  it('a denied call is answered, never forwarded, and its audit still honours the redactions', async () => {
    const p = build(() => ({
      allow: false,
      reasons: [{ code: 'tool_denied', message: 'no' }],
      obligations: { arguments: { replace: null, drop: [], redact: ['/access_key'], placeholder: 'x' } },
      audit: { level: 'full' },
    }));
    await p.pipeline.run(intake([call(1, 'aws', { access_key: 'AKIAIOSFODNN7EXAMPLE' })]));
    const c = p.port.delivered[0]!.calls[0]!;
    expect(c.refused?.code).toBe('SARK_POLICY_DENIED');
    expect(c.outbound).toBeUndefined();
    expect(JSON.stringify(p.events)).not.toContain('AKIA');
    expect(p.events[0]!.decision).toBe('deny');
    expect(await count(p, 'deny')).toBe(1);
  });

  it('an obligation no stage implements refuses the call (fail closed)', async () => {
    const p = build(() => ({ allow: true, obligations: { notify_owner: { to: 'x' } } }));
    await p.pipeline.run(intake([call(1, 'echo')]));
    const c = p.port.delivered[0]!.calls[0]!;
    expect(c.refused?.code).toBe('SARK_OBLIGATION_UNSUPPORTED');
    expect(c.outbound).toBeUndefined();
    expect(p.events[0]!.decision).toBe('deny');
    expect(p.events[0]!.reasons).toEqual(['obligation_unsupported']);
  });

  it('an engine failure is a deny (fail closed)', async () => {
    const p = build(() => new Error('down'));
    await p.pipeline.run(intake([call(1, 'echo')]));
    expect(p.port.delivered[0]!.calls[0]!.refused?.code).toBe('SARK_POLICY_UNAVAILABLE');
    expect(p.events[0]!.decision).toBe('deny');
  });

  it('an identity failure refuses every message of the request, each audited', async () => {
    const p = build(() => ({ allow: true }), {
      identity: () => {
        throw new SarkError('SARK_UNAUTHENTICATED');
      },
    });
    await p.pipeline.run(intake([call(1, 'echo'), call(2, 'echo')]));
    const x = p.port.delivered[0]!;
    expect(x.failure?.code).toBe('SARK_UNAUTHENTICATED');
    expect(p.inputs).toHaveLength(0);
    expect(p.events.map((e) => [e.decision, e.reasons[0], e.agent_id])).toEqual([
      ['deny', 'unauthenticated', 'unauthenticated'],
      ['deny', 'unauthenticated', 'unauthenticated'],
    ]);
    expect(await count(p, 'error')).toBe(2);
  });

  it('a stage that throws refuses the request and the answer and record stages still run', async () => {
    const throwing: Stage = {
      name: 'obligations',
      scope: 'call',
      run: () => {
        throw new Error('bug');
      },
    };
    const port = new CapturingPort();
    const events: AuditEvent[] = [];
    const pipeline = new Pipeline(
      [
        new IdentityStage({ resolve: () => ANONYMOUS }),
        new DecideStage(
          new Authorizer({
            decide: async () => toDecision({ allow: true }),
            bindings: new Bindings({ maxEntries: 10, sessionIdleTtlMs: 1000, taskTtlMs: 1000 }),
            subscriptionMaxUris: 1,
            concurrency: 1,
            logger: quiet,
            countDecision: () => {},
          }),
        ),
        throwing,
        new ForwardStage(new Map([['streamable-http', port]])),
        new RecordStage({ record: (e) => events.push(e), close: async () => {} }, createMetrics()),
      ],
      1,
      quiet,
    );
    await pipeline.run(intake([call(1, 'echo')]));
    expect(port.delivered[0]!.failure?.code).toBe('SARK_INTERNAL');
    expect(events[0]!.decision).toBe('deny');
    expect(events[0]!.reasons).toEqual(['internal_error']);
  });

  it('a batch is the same stages per element, with bounded concurrency and one request id', async () => {
    const p = build(
      (input) =>
        input.tool?.name === 'delete_file'
          ? { allow: false, reasons: [{ code: 'tool_denied', message: 'no' }] }
          : { allow: true },
      {
        concurrency: 3,
      },
    );
    const batch = Array.from({ length: 12 }, (_, i) => call(i, i % 4 === 0 ? 'delete_file' : 'echo'));
    await p.pipeline.run(intake(batch, true));
    expect(p.inputs).toHaveLength(12);
    expect(p.maxInFlight()).toBeGreaterThan(1);
    expect(p.maxInFlight()).toBeLessThanOrEqual(3);
    expect(p.events).toHaveLength(12);
    expect(new Set(p.events.map((e) => e.http_request_id))).toEqual(new Set(['req-1']));
    expect(new Set(p.events.map((e) => e.request_id)).size).toBe(12);
    expect(p.events.map((e) => e.message_index)).toEqual([...Array(12).keys()]);
    expect(await count(p, 'allow')).toBe(9);
    expect(await count(p, 'deny')).toBe(3);
  });

  it('a subscription decides, counts and audits every resource it covers, and is refused past its limit', async () => {
    const p = build((input) =>
      input.resource?.uri?.startsWith('secret://')
        ? { allow: false, reasons: [{ code: 'resource_denied', message: 'no' }] }
        : { allow: true },
    );
    const listen = (id: number, uris: string[]) => ({
      jsonrpc: '2.0',
      id,
      method: 'subscriptions/listen',
      params: { notifications: { resourceSubscriptions: uris } },
    });
    await p.pipeline.run(intake([listen(1, ['file:///a', 'file:///b'])]));
    expect(p.port.delivered[0]!.calls[0]!.refused).toBeUndefined();
    expect(p.events.map((e) => [e.action, e.implied_by, e.decision])).toEqual([
      ['gateway:subscriptions:listen', null, 'allow'],
      ['gateway:resource:read', 'subscriptions/listen', 'allow'],
      ['gateway:resource:read', 'subscriptions/listen', 'allow'],
    ]);
    expect(new Set(p.events.map((e) => e.http_request_id)).size).toBe(1);

    await p.pipeline.run(intake([listen(2, ['file:///a', 'secret://k'])]));
    expect(p.port.delivered[1]!.calls[0]!.refused?.code).toBe('SARK_POLICY_DENIED');

    await p.pipeline.run(intake([listen(3, ['a://1', 'a://2', 'a://3', 'a://4'])]));
    expect(p.port.delivered[2]!.calls[0]!.refused?.code).toBe('SARK_LIMIT_EXCEEDED');
  });

  it('a completion is decided against the prompt it references too', async () => {
    const p = build((input) =>
      input.action === 'gateway:prompt:get' && input.prompt?.name === 'secret_prompt'
        ? { allow: false, reasons: [{ code: 'prompt_not_granted', message: 'no' }] }
        : { allow: true },
    );
    const complete = (id: number, name: string) => ({
      jsonrpc: '2.0',
      id,
      method: 'completion/complete',
      params: { ref: { type: 'ref/prompt', name }, argument: { name: 'a', value: '' } },
    });
    await p.pipeline.run(intake([complete(1, 'ok_prompt')]));
    await p.pipeline.run(intake([complete(2, 'secret_prompt')]));
    expect(p.port.delivered[0]!.calls[0]!.refused).toBeUndefined();
    expect(p.port.delivered[1]!.calls[0]!.refused?.code).toBe('SARK_POLICY_DENIED');
    expect(p.events.filter((e) => e.implied_by === 'completion/complete').map((e) => e.decision)).toEqual([
      'allow',
      'deny',
    ]);
  });
});
