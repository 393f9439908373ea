/**
 * The embedded evaluator: the repo's Rego compiled to WebAssembly
 * (`npm run policy:build` → opa/build/policy.wasm + data.json) and evaluated
 * in-process with @open-policy-agent/opa-wasm. Used when no OPA URL is
 * configured, so the sidecar runs with no external service at all.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { ConfigError, SarkError } from '../errors.ts';
import type { PolicyEngine } from './engine.ts';
import type { PolicyInput } from './input.ts';

export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../../opa/build/', import.meta.url));

export async function createWasmEngine(options: {
  dir?: string | undefined;
  decisionPath: string;
}): Promise<PolicyEngine> {
  const dir = options.dir ?? DEFAULT_POLICY_DIR;
  let wasm: Buffer;
  let dataText: string;
  let data: unknown;
  try {
    wasm = readFileSync(join(dir, 'policy.wasm'));
    dataText = readFileSync(join(dir, 'data.json'), 'utf8');
    data = JSON.parse(dataText);
  } catch (err) {
    throw new ConfigError(
      `embeddedPolicyDir (${dir}): cannot load policy.wasm and data.json: ${(err as Error).message}`,
    );
  }
  const policy = await loadPolicy(wasm);
  policy.setData(data as object);
  const entrypoint = options.decisionPath;
  if (!(entrypoint in policy.entrypoints)) {
    throw new ConfigError(
      `opaDecisionPath (${entrypoint}) is not an entrypoint of the embedded policy (has: ${Object.keys(policy.entrypoints).join(', ')})`,
    );
  }

  // The build has no bundle manifest: its content digest names the revision in audit events.
  const revision = `embedded:${createHash('sha256').update(wasm).update(dataText).digest('hex').slice(0, 12)}`;

  return {
    name: 'wasm',
    revision,
    async evaluate(input: PolicyInput): Promise<unknown> {
      let results: Array<{ result?: unknown }>;
      try {
        results = policy.evaluate(input, entrypoint);
      } catch (err) {
        throw new SarkError('SARK_POLICY_UNAVAILABLE', {
          detail: `WASM evaluation failed: ${(err as Error).message}`,
          cause: err,
        });
      }
      return results[0]?.result;
    },
    probe: async () => true,
    async data(path: string): Promise<unknown> {
      let node: unknown = data;
      for (const part of path.split('/')) {
        if (node === null || typeof node !== 'object') return undefined;
        node = (node as Record<string, unknown>)[part];
      }
      return node;
    },
    close: async () => {},
  };
}
