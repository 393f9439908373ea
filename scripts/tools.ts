/**
 * Where the project's external tools live. OPA (and promtool) are installed once per
 * machine by scripts/test-env.sh into a stable cache path; SARK_OPA_BIN /
 * SARK_PROMTOOL_BIN or the tool on the PATH take precedence.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const OPA_VERSION = process.env.SARK_OPA_VERSION ?? 'v1.22.2';

/**
 * `debian` (the default): promtool unpacked from Debian's prometheus package;
 * or a github.com/prometheus/prometheus module version built from the Go
 * module proxy (v0.316.0 is Prometheus 3.x's promtool). scripts/test-env.sh.
 */
export const PROMTOOL_VERSION = process.env.SARK_PROMTOOL_VERSION ?? 'debian';

function toolsDir(): string {
  return process.env.SARK_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sark', 'bin');
}

function findTool(envVar: string, cached: string, name: string): string | undefined {
  const fromEnv = process.env[envVar];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  if (existsSync(cached)) return cached;
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function opaBinary(): string | undefined {
  return findTool('SARK_OPA_BIN', join(toolsDir(), `opa-${OPA_VERSION}`, 'opa'), 'opa');
}

export function promtoolBinary(): string | undefined {
  return findTool('SARK_PROMTOOL_BIN', join(toolsDir(), `promtool-${PROMTOOL_VERSION}`, 'promtool'), 'promtool');
}

export function requirePromtool(): string {
  const bin = promtoolBinary();
  if (!bin)
    throw new Error(`promtool ${PROMTOOL_VERSION} not found: run scripts/test-env.sh (or set SARK_PROMTOOL_BIN)`);
  return bin;
}

export function requireOpa(): string {
  const bin = opaBinary();
  if (!bin) throw new Error(`OPA ${OPA_VERSION} not found: run scripts/test-env.sh (or set SARK_OPA_BIN)`);
  return bin;
}
