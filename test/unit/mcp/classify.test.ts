import { describe, expect, it } from 'vitest';
import { SarkError } from '../../../src/errors.ts';
import { classify, type HeaderLookup } from '../../../src/mcp/classify.ts';
import type { JsonRpcMessage } from '../../../src/mcp/jsonrpc.ts';

const V26 = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': V26,
  'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
};

function call(name: string, extra: Record<string, unknown> = {}): JsonRpcMessage {
  return { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { a: 1 }, ...extra } };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SarkError ? err.code : 'other';
  }
  return undefined;
}

describe('classify', () => {
  it.each([
    ['tools/call', 'gateway:tool:invoke'],
    ['tools/list', 'gateway:tools:list'],
    ['resources/read', 'gateway:resource:read'],
    ['resources/templates/list', 'gateway:resources:list'],
    ['prompts/get', 'gateway:prompt:get'],
    ['initialize', 'gateway:server:connect'],
    ['server/discover', 'gateway:server:connect'],
    ['vendor/secret', 'gateway:method:other'],
  ])('%s → %s', (method, action) => {
    expect(classify({ jsonrpc: '2.0', id: 1, method }, {}).action).toBe(action);
  });

  it('completion/complete names the prompt or resource template it references', () => {
    const prompt = classify(
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'completion/complete',
        params: { ref: { type: 'ref/prompt', name: 'secret_prompt' }, argument: { name: 'a', value: 'x' } },
      },
      {},
    );
    expect([prompt.action, prompt.ref, prompt.name]).toEqual([
      'gateway:completion:complete',
      'ref/prompt',
      'secret_prompt',
    ]);
    const template = classify(
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'completion/complete',
        params: { ref: { type: 'ref/resource', uri: 'secret://{id}' }, argument: { name: 'id', value: '' } },
      },
      {},
    );
    expect([template.ref, template.name]).toEqual(['ref/resource', 'secret://{id}']);
  });

  it.each([[{}], [{ ref: { type: 'ref/prompt' } }], [{ ref: { type: 'ref/other', name: 'x' } }]])(
    'a completion that references nothing SARK can judge is refused: %j',
    (params) => {
      expect(() => classify({ jsonrpc: '2.0', id: 1, method: 'completion/complete', params }, {})).toThrow(
        expect.objectContaining({ code: 'SARK_INVALID_REQUEST' }),
      );
    },
  );

  it('notifications and responses', () => {
    expect(classify({ jsonrpc: '2.0', method: 'notifications/initialized' }, {}).action).toBe('gateway:notification');
    const r = classify({ jsonrpc: '2.0', id: 4, result: {} }, {});
    expect(r.kind).toBe('response');
    expect(r.action).toBe('gateway:response');
  });

  it('2025 sessionful vs stateless', () => {
    expect(classify(call('echo'), { 'mcp-session-id': ['s1'], 'mcp-protocol-version': ['2025-11-25'] }).era).toBe(
      '2025-session',
    );
    const m = classify(call('echo'), {});
    expect(m.era).toBe('2025-stateless');
    expect(m.name).toBe('echo');
    expect(m.arguments).toEqual({ a: 1 });
  });

  it('2025 initialize carries client claims', () => {
    const m = classify(
      {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: { x: {} }, clientInfo: { name: 'n' } },
      },
      {},
    );
    expect(m.protocolVersion).toBe('2025-11-25');
    expect(m.clientInfo).toEqual({ name: 'n' });
    expect(m.clientCapabilities).toEqual({ x: {} });
  });

  describe('2026-07-28 envelopes', () => {
    const headers: HeaderLookup = { 'mcp-protocol-version': [V26], 'mcp-method': ['tools/call'], 'mcp-name': ['echo'] };

    it('accepts agreeing headers', () => {
      const m = classify(call('echo', { _meta: meta }), headers);
      expect(m.era).toBe('2026');
      expect(m.protocolVersion).toBe(V26);
      expect(m.clientInfo).toEqual({ name: 'c', version: '1' });
    });

    it.each<[string, HeaderLookup, JsonRpcMessage]>([
      ['name mismatch', { ...headers, 'mcp-name': ['echo'] }, call('delete_file', { _meta: meta })],
      ['method mismatch', { ...headers, 'mcp-method': ['tools/list'] }, call('echo', { _meta: meta })],
      ['missing version header', { 'mcp-method': ['tools/call'], 'mcp-name': ['echo'] }, call('echo', { _meta: meta })],
      ['missing method header', { 'mcp-protocol-version': [V26], 'mcp-name': ['echo'] }, call('echo', { _meta: meta })],
      [
        'missing name header',
        { 'mcp-protocol-version': [V26], 'mcp-method': ['tools/call'] },
        call('echo', { _meta: meta }),
      ],
      ['repeated name header', { ...headers, 'mcp-name': ['echo', 'echo'] }, call('echo', { _meta: meta })],
      [
        'header says 2026, body envelope names none but method needs name',
        { ...headers, 'mcp-name': ['x'] },
        call('echo'),
      ],
      [
        'name header where none is defined',
        { ...headers, 'mcp-method': ['tools/list'] },
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } },
      ],
    ])('%s → SARK_HEADER_MISMATCH', (_name, h, body) => {
      expect(codeOf(() => classify(body, h))).toBe('SARK_HEADER_MISMATCH');
    });

    it('rejects an unknown or future protocol version, in header or envelope', () => {
      expect(codeOf(() => classify(call('echo'), { 'mcp-protocol-version': ['2099-01-01'] }))).toBe(
        'SARK_UNSUPPORTED_PROTOCOL_VERSION',
      );
      expect(
        codeOf(() =>
          classify(call('echo', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2030-01-01' } }), {}),
        ),
      ).toBe('SARK_UNSUPPORTED_PROTOCOL_VERSION');
      expect(
        codeOf(() =>
          classify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: 'next' } }, {}),
        ),
      ).toBe('SARK_UNSUPPORTED_PROTOCOL_VERSION');
    });
  });
});
