/**
 * Tasks are bound to the agent that created them: only that agent may get,
 * fetch or cancel one, tasks/list shows each agent its own, and a task SARK
 * did not see created is refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../../src/sidecar.ts';
import { type RawUpstream, startRawUpstream } from '../../support/raw-upstream.ts';
import { rawPost, startTestSidecar } from '../../support/sidecar.ts';

const task = (taskId: string) => ({ taskId, status: 'working', ttl: null, createdAt: 'x', lastUpdatedAt: 'x' });

describe('task binding', () => {
  let upstream: RawUpstream;
  let sidecar: Sidecar;
  const dir = mkdtempSync(join(tmpdir(), 'sark-tasks-'));
  const keys = join(dir, 'keys.json');
  writeFileSync(
    keys,
    JSON.stringify([
      { key: 'agent-a-key-0123456789', agentId: 'agent-a', roles: ['developer'] },
      { key: 'agent-b-key-0123456789', agentId: 'agent-b', roles: ['developer'] },
    ]),
  );
  const as = (who: 'a' | 'b') => ({ 'x-api-key': `agent-${who}-key-0123456789` });

  beforeAll(async () => {
    upstream = await startRawUpstream();
    upstream.handler = (_req, res, body) => {
      const m = JSON.parse(body);
      let result: unknown = {};
      if (m.method === 'tools/call') result = { task: task('task-1') };
      if (m.method === 'tasks/get') result = task(m.params.taskId);
      if (m.method === 'tasks/list') result = { tasks: [task('task-1'), task('task-of-someone-else')] };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
    };
    sidecar = await startTestSidecar(['--upstream-url', upstream.url, '--api-keys-file', keys]);
  });

  afterAll(async () => {
    await sidecar?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rpc = (id: number, method: string, params: Record<string, unknown>) =>
    JSON.stringify({ jsonrpc: '2.0', id, method, params });

  it('binds a created task to its creator and refuses everyone else', async () => {
    const created = await rawPost(
      sidecar.mcpUrl,
      rpc(1, 'tools/call', { name: 'echo', arguments: { text: 'x' }, task: { ttl: 60000 } }),
      as('a'),
    );
    expect(created.json.result.task.taskId).toBe('task-1');

    const mine = await rawPost(sidecar.mcpUrl, rpc(2, 'tasks/get', { taskId: 'task-1' }), as('a'));
    expect(mine.json.result.taskId).toBe('task-1');

    const before = upstream.captured.length;
    const theirs = await rawPost(sidecar.mcpUrl, rpc(3, 'tasks/get', { taskId: 'task-1' }), as('b'));
    expect(theirs.json.error.code).toBe(-32002);
    expect(theirs.json.error.message).toContain('task_not_owned');
    const cancel = await rawPost(sidecar.mcpUrl, rpc(4, 'tasks/cancel', { taskId: 'task-1' }), as('b'));
    expect(cancel.json.error.code).toBe(-32002);
    const unknown = await rawPost(sidecar.mcpUrl, rpc(5, 'tasks/result', { taskId: 'never-seen' }), as('a'));
    expect(unknown.json.error.code).toBe(-32002);
    expect(upstream.captured.length).toBe(before);
  });

  it('tasks/list shows an agent its own tasks only', async () => {
    const a = await rawPost(sidecar.mcpUrl, rpc(6, 'tasks/list', {}), as('a'));
    expect(a.json.result.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['task-1']);
    const b = await rawPost(sidecar.mcpUrl, rpc(7, 'tasks/list', {}), as('b'));
    expect(b.json.result.tasks).toEqual([]);
  });
});
