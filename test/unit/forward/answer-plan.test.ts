import { describe, expect, it } from 'vitest';
import type { ItemJudge, Obligation } from '../../../src/decide/obligations.ts';
import { AnswerPlan } from '../../../src/forward/answer-plan.ts';
import { rewriteJsonAnswer } from '../../../src/forward/json-answer.ts';

const tools = [{ name: 'echo' }, { name: 'delete_file' }, { nameless: true }];
const filterTools: Obligation = { kind: 'filter_tools', stage: 'forward', visible: new Set(['echo']) };
const judge: ItemJudge = {
  visible: async (_list, item) => !String(item.name ?? item.uri ?? item.uriTemplate).startsWith('secret'),
};

function plan(entries: [number | string, Obligation[]][]): AnswerPlan {
  const p = new AnswerPlan();
  for (const [id, o] of entries) p.add(id, o);
  return p;
}

describe('answer plan', () => {
  it('keeps only visible tools, matched by id; other answers are untouched', async () => {
    const p = plan([[1, [filterTools]]]);
    expect(p.rewritesBodies).toBe(true);
    expect(await p.rewrite({ jsonrpc: '2.0', id: 1, result: { tools } })).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: { tools: [{ name: 'echo' }] },
    });
    const other = { jsonrpc: '2.0', id: 2, result: { tools } };
    expect(p.rewrite(other)).toBe(other);
    // "1" is not 1: ids are matched exactly.
    const str = { jsonrpc: '2.0', id: '1', result: { tools } };
    expect(p.rewrite(str)).toBe(str);
    const err = { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } };
    expect(p.rewrite(err)).toBe(err);
  });

  it("a batch answer: each answer gets its own request's rewrite, whatever the order", async () => {
    const p = plan([
      [1, [filterTools]],
      [2, [{ kind: 'filter_items', stage: 'forward', list: 'prompts', judge }]],
    ]);
    const body = Buffer.from(
      JSON.stringify([
        { jsonrpc: '2.0', id: 2, result: { prompts: [{ name: 'ok' }, { name: 'secret_prompt' }] } },
        { jsonrpc: '2.0', id: 1, result: { tools } },
      ]),
    );
    expect(
      JSON.parse(await rewriteJsonAnswer(body, p, [{ jsonrpc: '2.0', id: 3, error: { code: -32002, message: 'no' } }])),
    ).toEqual([
      { jsonrpc: '2.0', id: 2, result: { prompts: [{ name: 'ok' }] } },
      { jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'echo' }] } },
      { jsonrpc: '2.0', id: 3, error: { code: -32002, message: 'no' } },
    ]);
  });

  it('filters resources and templates item by item; an item that cannot be named is hidden', async () => {
    const p = plan([
      [1, [{ kind: 'filter_items', stage: 'forward', list: 'resources', judge }]],
      [2, [{ kind: 'filter_items', stage: 'forward', list: 'resourceTemplates', judge }]],
    ]);
    expect(
      await p.rewrite({ id: 1, result: { resources: [{ uri: 'file:///a' }, { uri: 'secret://k' }, 'junk'] } }),
    ).toEqual({
      id: 1,
      result: { resources: [{ uri: 'file:///a' }] },
    });
    expect(
      await p.rewrite({
        id: 2,
        result: { resourceTemplates: [{ uriTemplate: 'file:///{p}' }, { uriTemplate: 'secret://{id}' }] },
      }),
    ).toEqual({ id: 2, result: { resourceTemplates: [{ uriTemplate: 'file:///{p}' }] } });
  });

  it('2026 list results become private and their ttl is capped', async () => {
    const p = plan([[1, [filterTools, { kind: 'cap_ttl', stage: 'forward', maxTtlMs: 5000 }]]]);
    expect(await p.rewrite({ id: 1, result: { tools, cacheScope: 'public', ttlMs: 600_000 } })).toEqual({
      id: 1,
      result: { tools: [{ name: 'echo' }], cacheScope: 'private', ttlMs: 5000 },
    });
  });

  it('binds a created task, and filters tasks/list to the caller', async () => {
    const bound: string[] = [];
    const p = plan([
      [1, [{ kind: 'bind_task', stage: 'forward', binder: { bind: (id) => bound.push(id) } }]],
      [2, [{ kind: 'filter_tasks', stage: 'forward', owned: (id) => id === 'mine' }]],
    ]);
    const created = { id: 1, result: { task: { taskId: 't-1', status: 'working' } } };
    expect(p.rewrite(created)).toBe(created);
    expect(bound).toEqual(['t-1']);
    expect(await p.rewrite({ id: 2, result: { tasks: [{ taskId: 'mine' }, { taskId: 'theirs' }] } })).toEqual({
      id: 2,
      result: { tasks: [{ taskId: 'mine' }] },
    });
  });

  it('drops resource updates the subscription does not cover', () => {
    const p = new AnswerPlan();
    p.add(1, [{ kind: 'drop_notifications', stage: 'forward', covered: new Set(['file:///a']) }]);
    const ok = { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///a' } };
    expect(p.rewrite(ok)).toBe(ok);
    expect(
      p.rewrite({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'secret://k' } }),
    ).toBeUndefined();
  });

  it('binds the session the upstream names on success, and ends it on a successful DELETE or a 404', () => {
    const log: string[] = [];
    const binder = { bind: (id: string) => log.push(`bind ${id}`), end: (id: string) => log.push(`end ${id}`) };
    const init = new AnswerPlan();
    init.add(0, [{ kind: 'bind_session', stage: 'forward', binder }]);
    init.onHeaders(500, 's-0');
    init.onHeaders(200, 's-1');
    const del = new AnswerPlan();
    del.add(null, [{ kind: 'end_session', stage: 'forward', binder, sessionId: 's-1' }]);
    del.onHeaders(403, undefined);
    del.onHeaders(204, undefined);
    expect(log).toEqual(['bind s-1', 'end s-1']);
  });

  it('an unparseable JSON answer it must filter is refused, not passed', async () => {
    await expect(rewriteJsonAnswer(Buffer.from('{"jsonrpc":'), plan([[1, [filterTools]]]), [])).rejects.toMatchObject({
      code: 'SARK_RESPONSE_UNFILTERABLE',
    });
  });
});
