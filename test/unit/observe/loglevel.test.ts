import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogLevelControl, type LogLevelControl } from '../../../src/observe/loglevel.ts';
import { memoryLogger, until } from '../../support/audit-events.ts';

let server: Server | undefined;
let control: LogLevelControl | undefined;
afterEach(async () => {
  control?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(level = 'info') {
  const log = memoryLogger();
  log.logger.level = level;
  control = createLogLevelControl(log.logger);
  const c = control;
  server = createServer((req, res) => c.handle(req, res));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/loglevel`;
  const put = async (body: string) => {
    const res = await fetch(url, { method: 'PUT', body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  return { log, control: c, url, put };
}

describe('log level at run time', () => {
  it('GET tells the level; PUT changes it (JSON or a bare name), and the change is logged', async () => {
    const { log, url, put } = await serve();
    expect(await (await fetch(url)).json()).toEqual({ level: 'info', configured: 'info' });
    expect(await put('{"level":"debug"}')).toEqual({ status: 200, json: { level: 'debug', configured: 'info' } });
    expect(log.logger.level).toBe('debug');
    expect(log.logger.isLevelEnabled('debug')).toBe(true);
    expect((await put('warn')).json.level).toBe('warn');
    expect(log.lines.filter((l) => l.msg === 'log level changed').map((l) => [l.from, l.to])).toEqual([
      ['info', 'debug'],
      ['debug', 'warn'],
    ]);
  });

  it('falls back to the configured level by itself after revertAfterSeconds', async () => {
    const { control: c, put } = await serve();
    expect((await put('{"level":"trace","revertAfterSeconds":1}')).status).toBe(200);
    expect(c.level).toBe('trace');
    await until('reverted', () => c.level === 'info', 5_000);
  });

  it('refuses what is not a level, a bad revert, other methods and big bodies, and keeps the level', async () => {
    const { control: c, url, put } = await serve();
    expect((await put('{"level":"verbose"}')).status).toBe(400);
    expect((await put('{"level":"debug","revertAfterSeconds":-1}')).status).toBe(400);
    expect((await put('{"level":"debug","revertAfterSeconds":1.5}')).status).toBe(400);
    expect((await put('{not json')).status).toBe(400);
    expect((await put('x'.repeat(5000))).status).toBe(413);
    expect((await fetch(url, { method: 'POST', body: 'debug' })).status).toBe(405);
    expect(c.level).toBe('info');
  });

  it('SIGUSR2 semantics: toggles between the configured level and debug', async () => {
    const { control: c } = await serve('warn');
    c.toggleDebug();
    expect(c.level).toBe('debug');
    c.toggleDebug();
    expect(c.level).toBe('warn');
    c.set('error');
    c.toggleDebug();
    expect(c.level).toBe('warn');
  });
});
