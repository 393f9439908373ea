/**
 * The official SDK v2 client (`@modelcontextprotocol/client` 2.4) connected
 * over Streamable HTTP, in one of its version-negotiation modes
 * (`ClientOptions.versionNegotiation`):
 * - '2025': no negotiation (the SDK default, `mode: 'legacy'`): `initialize`,
 *   then requests under the 2025 revision, byte-identical to a client without
 *   the option.
 * - 'auto': probe with `server/discover`; a 2026-07-28 server is spoken to in
 *   the new era (self-contained requests with the `_meta` envelope and the
 *   MCP-Protocol-Version / Mcp-Method / Mcp-Name headers), anything else falls
 *   back to the 2025 `initialize` handshake. What a v2 host does by default.
 * - '2026-07-28': `mode: { pin: '2026-07-28' }`: the new era or a failed
 *   connect, never a silent fall-back.
 */
import { Client, type ClientCapabilities, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

export type V2ClientMode = '2025' | 'auto' | '2026-07-28';

export interface V2ClientOptions {
  /** Extra HTTP headers on every request (e.g. an API key). */
  headers?: Record<string, string>;
  /** Capabilities to advertise; none by default. */
  capabilities?: ClientCapabilities;
}

/** A v2 client connected (handshake or discovery done) to `url`. */
export async function connectV2Client(url: string, mode: V2ClientMode, options: V2ClientOptions = {}): Promise<Client> {
  const client = new Client(
    { name: 'sark-test-client-v2', version: '2.0.0' },
    {
      capabilities: options.capabilities ?? {},
      versionNegotiation: {
        mode: mode === '2025' ? 'legacy' : mode === 'auto' ? 'auto' : { pin: mode },
        probe: { timeoutMs: 10_000 },
      },
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: options.headers ?? {} },
  });
  await client.connect(transport);
  return client;
}
