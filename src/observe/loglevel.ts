/**
 * Changing the log level of a running sidecar, for the 3 a.m. case: turn on
 * debug for one pod, look, and let it fall back by itself.
 *
 *   GET  /loglevel                      → {"level":"info","configured":"info"}
 *   PUT  /loglevel {"level":"debug","revertAfterSeconds":600}
 *   kill -USR2 <pid>                    → toggles between the configured level and debug
 *
 * Served on the admin listener only (never on the data port). The level never
 * changes what is logged about secrets: redaction is by path and applies at
 * every level, and no level logs argument values.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLogLevel, LOG_LEVELS, type Logger } from './logger.ts';

export interface LogLevelControl {
  readonly level: string;
  readonly configured: string;
  /** Sets the level; with `revertAfterMs`, goes back to the configured level after that long. */
  set(level: string, revertAfterMs?: number): void;
  /** SIGUSR2: debug if at the configured level, else back to the configured level. */
  toggleDebug(): void;
  /** The admin listener's /loglevel route. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

const MAX_BODY_BYTES = 1024;
const MAX_REVERT_SECONDS = 86_400;

export function createLogLevelControl(logger: Logger, configured: string = logger.level): LogLevelControl {
  let revert: NodeJS.Timeout | undefined;

  const control: LogLevelControl = {
    get level() {
      return logger.level;
    },
    configured,
    set(level, revertAfterMs) {
      if (!isLogLevel(level)) throw new TypeError(`unknown log level "${level}" (one of ${LOG_LEVELS.join(', ')})`);
      clearTimeout(revert);
      revert = undefined;
      const from = logger.level;
      logger.level = level;
      // At warn so that the change is seen at any level but silent.
      logger.warn({ from, to: level, revertAfterMs }, 'log level changed');
      if (revertAfterMs !== undefined && level !== configured) {
        revert = setTimeout(() => control.set(configured), revertAfterMs);
        revert.unref();
      }
    },
    toggleDebug() {
      control.set(logger.level === configured ? 'debug' : configured);
    },
    handle(req, res) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        reply(res, 200, { level: logger.level, configured });
        return;
      }
      if (req.method !== 'PUT') {
        req.resume();
        res.setHeader('allow', 'GET, HEAD, PUT');
        reply(res, 405, { error: 'use GET or PUT' });
        return;
      }
      readSmallBody(req).then(
        (text) => {
          let level: unknown;
          let revertAfterSeconds: unknown;
          const trimmed = text.trim();
          if (trimmed.startsWith('{')) {
            try {
              ({ level, revertAfterSeconds } = JSON.parse(trimmed) as Record<string, unknown>);
            } catch {
              reply(res, 400, { error: 'body must be JSON {"level": …} or a bare level name' });
              return;
            }
          } else {
            level = trimmed;
          }
          if (!isLogLevel(level)) {
            reply(res, 400, { error: `level must be one of ${LOG_LEVELS.join(', ')}` });
            return;
          }
          const revertOk =
            revertAfterSeconds === undefined ||
            (Number.isInteger(revertAfterSeconds) &&
              (revertAfterSeconds as number) >= 1 &&
              (revertAfterSeconds as number) <= MAX_REVERT_SECONDS);
          if (!revertOk) {
            reply(res, 400, { error: `revertAfterSeconds must be an integer 1..${MAX_REVERT_SECONDS}` });
            return;
          }
          control.set(level, revertAfterSeconds === undefined ? undefined : (revertAfterSeconds as number) * 1000);
          reply(res, 200, { level: logger.level, configured, revertAfterSeconds });
        },
        () => {
          res.setHeader('connection', 'close');
          reply(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
        },
      );
    },
    close() {
      clearTimeout(revert);
    },
  };
  return control;
}

function readSmallBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        // Stop keeping it; the rest is read and discarded, the answer closes the connection.
        req.off('data', onData);
        req.resume();
        reject(new Error('too large'));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
