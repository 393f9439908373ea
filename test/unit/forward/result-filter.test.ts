import { describe, expect, it } from 'vitest';
import { NO_OBLIGATIONS, type Obligations } from '../../../src/decide/obligations.ts';
import { type ResponsePlan, rewriteFor, rewriteJsonBody } from '../../../src/forward/result-filter.ts';
import { classify } from '../../../src/mcp/classify.ts';

const list = classify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, {});
const o: Obligations = { arguments: undefined, visibleTools: new Set(['echo']), maxTtlMs: 5000 };
const tools = [{ name: 'echo' }, { name: 'delete_file' }, { nameless: true }];

function planOf(id: number, rw = rewriteFor(list, o)!): ResponsePlan {
  return new Map([[id, rw]]);
}

describe('result filter', () => {
  it('no rewrite without obligations, or for calls', () => {
    expect(rewriteFor(list, NO_OBLIGATIONS)).toBeUndefined();
    const call = classify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo' } }, {});
    expect(rewriteFor(call, { ...o, maxTtlMs: undefined })).toBeUndefined();
  });

  it('keeps only visible tools (2025 result: no cache hints added)', () => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools } }));
    expect(JSON.parse(rewriteJsonBody(planOf(1), body)!)).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: { tools: [{ name: 'echo' }] },
    });
  });

  it('2026 results become private and their ttl is capped', () => {
    const body = Buffer.from(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        result: { tools, resultType: 'complete', ttlMs: 60_000, cacheScope: 'shared' },
      }),
    );
    const r = JSON.parse(rewriteJsonBody(planOf(1), body)!).result;
    expect(r.cacheScope).toBe('private');
    expect(r.ttlMs).toBe(5000);
    expect(r.resultType).toBe('complete');
  });

  it('only the matching id, inside batches too; other messages untouched', () => {
    const other = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 9, result: { tools } }));
    expect(rewriteJsonBody(planOf(1), other)).toBeUndefined();
    const batch = Buffer.from(
      JSON.stringify([
        { jsonrpc: '2.0', id: 9, result: { tools } },
        { jsonrpc: '2.0', id: 1, result: { tools } },
      ]),
    );
    const out = JSON.parse(rewriteJsonBody(planOf(1), batch)!);
    expect(out[0].result.tools).toHaveLength(3);
    expect(out[1].result.tools).toEqual([{ name: 'echo' }]);
    expect(
      rewriteJsonBody(planOf(1), Buffer.from('{"jsonrpc":"2.0","method":"notifications/x","params":{}}')),
    ).toBeUndefined();
    expect(rewriteJsonBody(planOf(1), Buffer.from('not json'))).toBeUndefined();
  });
});
