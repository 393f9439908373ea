/**
 * Starts SARK in-process for a test, on ephemeral loopback ports, silent.
 */
import { Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/logger.ts';
import { type Sidecar, startSidecar } from '../../src/sidecar.ts';

export async function startTestSidecar(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Sidecar> {
  const config = loadConfig({
    argv: [
      '--listen',
      '127.0.0.1:0',
      '--admin-listen',
      '127.0.0.1:0',
      '--log-level',
      'silent',
      '--audit-file',
      'off',
      ...args,
    ],
    env,
  });
  // Log at debug into a sink, so that every log call's serialization runs in tests.
  return startSidecar(config, createLogger('debug', new Writable({ write: (_c, _e, cb) => cb() })));
}

/** An official SDK v1 client connected (initialize done) to `url`. */
export async function connectV1Client(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'sark-test-client', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  return client;
}

/** POSTs a raw body to the MCP endpoint. */
export async function rawPost(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}
