/**
 * The bundled demo MCP server that `sark serve` starts when no upstreamUrl is
 * set (README: `npm ci && npm start`). It lives in src/demo and needs the MCP
 * SDK, a devDependency: a source checkout has both, the production image has
 * neither (tsconfig.build.json leaves src/demo out of dist/, `npm ci
 * --omit=dev` leaves the SDK out of node_modules). There a missing upstreamUrl
 * stops start-up with a configuration error naming it.
 *
 * The module is named at run time, not as a literal import, so that neither
 * TypeScript nor the production build follows it into src/demo; nothing here
 * imports from it, not even a type.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.ts';

export interface BundledDemo {
  readonly url: string;
  close(): Promise<void>;
}

export interface DemoOptions {
  readonly host?: string;
  readonly port: number;
  readonly path?: string;
  readonly maxRecorded: number;
}

interface DemoModule {
  startDemoServer(options: DemoOptions): Promise<BundledDemo>;
}

/** ./demo/server.ts from the sources, ./demo/server.js from a build. */
export const DEMO_MODULE = new URL(`./demo/server${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** Messages the demo keeps for inspection when SARK runs it: enough to look at, never a leak. */
export const DEMO_MAX_RECORDED = 100;

export async function startBundledDemo(
  options: DemoOptions = { port: 0, maxRecorded: DEMO_MAX_RECORDED },
  module: URL = DEMO_MODULE,
): Promise<BundledDemo> {
  let demo: DemoModule;
  try {
    demo = (await import(module.href)) as DemoModule;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new ConfigError(
        'upstreamUrl is not set, and this installation has no bundled demo server (it comes with a source checkout and its devDependencies): set --upstream-url / SARK_UPSTREAM_URL to the MCP server to protect',
      );
    }
    throw err;
  }
  return demo.startDemoServer(options);
}
