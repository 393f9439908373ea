/**
 * Where the project's external tools live. OPA is built once per machine by
 * scripts/test-env.sh into a stable cache path; SARK_OPA_BIN or an `opa` on
 * the PATH take precedence.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const OPA_VERSION = process.env.SARK_OPA_VERSION ?? 'v1.22.2';

export function opaBinary(): string | undefined {
  if (process.env.SARK_OPA_BIN && existsSync(process.env.SARK_OPA_BIN)) return process.env.SARK_OPA_BIN;
  const cache =
    process.env.SARK_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sark', 'bin');
  const cached = join(cache, `opa-${OPA_VERSION}`, 'opa');
  if (existsSync(cached)) return cached;
  try {
    return execFileSync('sh', ['-c', 'command -v opa'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function requireOpa(): string {
  const bin = opaBinary();
  if (!bin) throw new Error(`OPA ${OPA_VERSION} not found: run scripts/test-env.sh (or set SARK_OPA_BIN)`);
  return bin;
}
