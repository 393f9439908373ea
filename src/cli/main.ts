/**
 * `sark` command line: argument parsing only. `sark serve [flags]` runs the
 * sidecar; `sark --help` lists every flag with its SARK_* variable.
 */
import { readFileSync } from 'node:fs';
import { configHelp, loadConfig } from '../config/load.ts';
import { ConfigError, SarkError } from '../errors.ts';
import { createLogger } from '../observe/logger.ts';
import { startSidecar } from '../sidecar.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const USAGE = `sark ${pkg.version} — inline authorization sidecar for MCP servers

Usage:
  sark serve [flags]     run the sidecar (flags override SARK_* environment variables)
  sark migrate [flags]   create or upgrade the audit tables in ClickHouse (--audit-clickhouse-* flags)
  sark inject [flags]    run the Kubernetes sidecar injection webhook (sark inject --help)
  sark demo-server       run the bundled demo MCP server alone (--listen host:port, --path /mcp)
  sark --help            show this help
  sark --version         print the version

With no --upstream-url and no --opa-url, \`sark serve\` starts a bundled demo MCP
server and evaluates the bundled policy in-process: no external service needed.

Flags for \`serve\`:
${configHelp()}
`;

async function serve(argv: string[]): Promise<void> {
  const config = loadConfig({ argv, env: process.env });
  const logger = createLogger(config.logLevel);
  const sidecar = await startSidecar(config, logger);
  // Standard output carries nothing but audit events when it is an audit destination.
  const out = config.auditStdout ? process.stderr : process.stdout;
  if (!sidecar.demo) {
    out.write(
      `MCP endpoint (Streamable HTTP): ${sidecar.mcpUrl} -> ${sidecar.upstreamUrl} (policy engine: ${sidecar.engine})\n`,
    );
  } else {
    out.write(
      [
        '',
        `SARK is enforcing policy on the bundled demo MCP server (policy engine: ${sidecar.engine}).`,
        `  MCP endpoint (Streamable HTTP): ${sidecar.mcpUrl}`,
        `  admin: ${sidecar.adminUrl}/healthz  ${sidecar.adminUrl}/readyz  ${sidecar.adminUrl}/metrics`,
        '',
        'Connect an MCP client to the endpoint above, for example:',
        `  npx @modelcontextprotocol/inspector --transport http --server-url ${sidecar.mcpUrl}`,
        `  claude mcp add --transport http sark-demo ${sidecar.mcpUrl}`,
        'Tools echo, add and get_time are allowed; delete_file is denied by the starter policy.',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'sark stopping');
    sidecar.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (command === 'serve') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    await serve(rest);
    return -1; // keeps running
  }
  if (command === 'migrate') {
    const { migrateCommand } = await import('./migrate.ts');
    return migrateCommand(rest);
  }
  if (command === 'demo-server') {
    const { demoServerCommand } = await import('./demo-server.ts');
    return demoServerCommand(rest);
  }
  if (command === 'inject') {
    const { injectCommand } = await import('./inject.ts');
    return injectCommand(rest);
  }
  process.stderr.write(`sark: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`sark: ${err.message}\n`);
      process.exitCode = 78; // EX_CONFIG
    } else if (err instanceof SarkError) {
      process.stderr.write(`sark: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`sark: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
