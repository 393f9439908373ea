/**
 * `sark demo-server [--listen host:port] [--path /mcp]`: runs the bundled demo
 * MCP server alone (no SARK in front), as the example upstream of
 * deploy/compose and deploy/k8s (the image's `demo` target; the production
 * image has no demo and says so). Argument parsing only.
 */
import { parseArgs } from 'node:util';
import { DEMO_MAX_RECORDED, startBundledDemo } from '../bundled-demo.ts';
import { splitAddress } from '../config/load.ts';
import { absPath, address } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';

export async function demoServerCommand(argv: string[]): Promise<number> {
  let values: { listen?: string; path?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { listen: { type: 'string' }, path: { type: 'string' } } }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const listen = address.safeParse(values.listen ?? '127.0.0.1:3000');
  if (!listen.success) throw new ConfigError(`--listen: ${listen.error.issues[0]?.message}`);
  const path = absPath.safeParse(values.path ?? '/mcp');
  if (!path.success) throw new ConfigError(`--path: ${path.error.issues[0]?.message}`);
  const { host, port } = splitAddress(listen.data);
  const demo = await startBundledDemo({ host, port, path: path.data, maxRecorded: DEMO_MAX_RECORDED });
  process.stdout.write(`demo MCP server (no enforcement): ${demo.url}\n`);
  const stop = () => demo.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return -1;
}
