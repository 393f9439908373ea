import { describe, expect, it } from 'vitest';
import { Bindings, principalOf } from '../../../src/decide/bindings.ts';
import { ANONYMOUS } from '../../../src/identity/identity.ts';

describe('bindings', () => {
  it('one principal per id; the same id under another auth method or tenant is someone else', () => {
    const a = principalOf({ ...ANONYMOUS, id: 'a', authMethod: 'api_key', tenant: 't1' });
    expect(a).not.toBe(principalOf({ ...ANONYMOUS, id: 'a', authMethod: 'jwt', tenant: 't1' }));
    expect(a).not.toBe(principalOf({ ...ANONYMOUS, id: 'a', authMethod: 'api_key', tenant: 't2' }));
  });

  it('remembers, forgets on end, and stays bounded', () => {
    const b = new Bindings({ maxEntries: 3, sessionIdleTtlMs: 60_000, taskTtlMs: 60_000 });
    b.bind('session', 's1', 'p1');
    expect(b.lookup('session', 's1')).toMatchObject({ principal: 'p1' });
    expect(b.lookup('task', 's1')).toBeUndefined();
    b.end('session', 's1');
    expect(b.lookup('session', 's1')).toBeUndefined();
    for (let i = 0; i < 10; i++) b.bind('task', `t${i}`, 'p');
    expect(b.size).toBe(3);
    expect(b.ownsLocally('task', 't9', 'p')).toBe(true);
    expect(b.ownsLocally('task', 't0', 'p')).toBe(false);
  });

  it('a session expires after its idle time', async () => {
    const b = new Bindings({ maxEntries: 10, sessionIdleTtlMs: 1000, taskTtlMs: 1000 });
    b.bind('session', 's', 'p');
    const realNow = performance.now;
    try {
      const start = realNow.call(performance);
      performance.now = () => start + 5_000;
      expect(b.lookup('session', 's')).toBeUndefined();
    } finally {
      performance.now = realNow;
    }
  });
});
