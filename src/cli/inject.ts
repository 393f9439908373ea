/**
 * `sark inject [flags]`: runs the mutating admission webhook that adds the
 * SARK sidecar to labelled pods (argument parsing and process lifecycle only;
 * the work is in src/inject/). Flags override SARK_INJECT_* variables.
 */
import { configHelp } from '../config/load.ts';
import { injectFields, loadInjectOptions } from '../inject/options.ts';
import { startInjectServer } from '../inject/server.ts';
import { createLogger } from '../observe/logger.ts';

export const INJECT_USAGE = `Usage: sark inject [flags]

Serves admission.k8s.io/v1 AdmissionReviews over TLS at /inject/pod and
/inject/namespace and adds the SARK sidecar, OPA and the iptables init
container to pods that ask for it (docs/kubernetes.md).

Flags for \`inject\`:
${configHelp(injectFields)}
`;

export async function injectCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(INJECT_USAGE);
    return 0;
  }
  const options = loadInjectOptions({ argv, env: process.env });
  const logger = createLogger(options.logLevel);
  const webhook = await startInjectServer(options, logger);
  logger.info({ url: webhook.url, sidecarImage: options.sidecarImage }, 'sark inject listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'sark inject stopping');
    webhook.close().then(() => {
      logger.flush();
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return -1; // keeps running
}
