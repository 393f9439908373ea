import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/mcp/canonical-json.ts';
import { argumentsDigest, REDACTED, redact, redactedArguments, traceIdOf } from '../../../src/record/event.ts';

describe('audit event helpers', () => {
  it('canonical JSON sorts keys at every depth, so the digest ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
    expect(argumentsDigest({ a: 1, b: 'x' })).toBe(argumentsDigest({ b: 'x', a: 1 }));
    expect(argumentsDigest({ a: 1 })).not.toBe(argumentsDigest({ a: 2 }));
    expect(argumentsDigest({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
    expect(argumentsDigest(undefined)).toBeNull();
  });

  it('redacts credential keys recursively, whatever their case or separators', () => {
    const out = redact({
      path: '/tmp/x',
      password: 'hunter2',
      nested: { API_KEY: 'k', 'x-auth-token': 't', list: [{ clientSecret: 's', ok: 1 }], Authorization: 'Basic abc' },
      db: { passwd: 'p', private_key: 'pk' },
    });
    expect(out).toEqual({
      path: '/tmp/x',
      password: REDACTED,
      nested: {
        API_KEY: REDACTED,
        'x-auth-token': REDACTED,
        list: [{ clientSecret: REDACTED, ok: 1 }],
        Authorization: REDACTED,
      },
      db: { passwd: REDACTED, private_key: REDACTED },
    });
  });

  it('redacts credential-shaped values under innocent keys', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig';
    const text = redactedArguments({
      header: 'Bearer abc.def',
      note: jwt,
      pem: '-----BEGIN RSA PRIVATE KEY-----\nx',
      plain: 'hello',
    })!;
    expect(text).not.toContain('abc.def');
    expect(text).not.toContain(jwt);
    expect(text).not.toContain('BEGIN RSA');
    expect(JSON.parse(text).plain).toBe('hello');
  });

  it('bounds the size of redacted arguments', () => {
    const text = redactedArguments({ blob: 'x'.repeat(100_000) })!;
    expect(text.length).toBeLessThan(9000);
    expect(JSON.parse(text).truncated).toBe(true);
  });

  it('takes the trace id from a valid W3C traceparent only', () => {
    expect(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    expect(traceIdOf('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeNull();
    expect(traceIdOf('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeNull();
    expect(traceIdOf('00-XYZ-00f067aa0ba902b7-01')).toBeNull();
    expect(traceIdOf(undefined)).toBeNull();
  });
});
