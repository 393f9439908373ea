/**
 * No Docker engine runs here, so the image is checked statically: the
 * Dockerfile parses and validates (dockerfile-utils, the validator behind the
 * VS Code Docker extension), runs as a non-root user on Node 24, and copies
 * everything the runtime loads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

const text = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

describe('Dockerfile', () => {
  it('has no validation problems', () => {
    expect(validate(text)).toEqual([]);
  });

  it('runs Node 24 as a non-root user', () => {
    expect(text).toMatch(/^ARG NODE_VERSION=24\./m);
    const lastFrom = text.lastIndexOf('\nFROM ');
    expect(text.slice(lastFrom)).toMatch(/^USER node$/m);
  });

  it('copies what the runtime loads, and those paths exist', () => {
    for (const path of [
      'bin',
      'opa/build',
      'package.json',
      'package-lock.json',
      'src',
      'tsconfig.build.json',
      'deploy/iptables/sark-redirect.sh',
    ]) {
      expect(text).toContain(path);
      expect(existsSync(new URL(`../../${path}`, import.meta.url))).toBe(true);
    }
    expect(existsSync(new URL('../../opa/build/policy.wasm', import.meta.url))).toBe(true);
  });

  it('ships the interception script the injected init container runs, with iptables', () => {
    expect(text).toContain('/usr/local/bin/sark-redirect');
    expect(text).toMatch(/apt-get install -y --no-install-recommends iptables/);
  });
});
