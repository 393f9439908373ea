/**
 * DNS rebinding protection for the servers behind SARK. The MCP transports
 * specification (2025-06-18 onward, "Security Warning") says servers MUST
 * validate the Origin header; most MCP servers do not. A web page an agent's
 * user visits can point a DNS name at 127.0.0.1 and have the browser post
 * to a local MCP server: the request then carries the attacker's Host and
 * Origin. SARK refuses both before anything else runs:
 *
 * - `Host`: the configured names (`allowedHosts`, each a name, or name:port
 *   to pin the port). Unset: when the data listener is on a loopback address,
 *   only localhost names (as the MCP SDKs' own rebinding protection does);
 *   otherwise any name (the Helm chart fills in the Service's names).
 * - `Origin`, when present: the configured origins (`allowedOrigins`,
 *   scheme://host[:port]). Unset: on loopback, localhost origins only;
 *   otherwise none. An Origin that is present and not allowed is always
 *   refused ("null" included); requests without one (non-browser clients)
 *   are not affected.
 */
import { networkInterfaces } from 'node:os';
import { ConfigError, SarkError } from '../errors.ts';
import type { HeaderLookup } from '../mcp/classify.ts';

const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export interface HostGuardOptions {
  /** The data listener's host:port. */
  readonly listen: string;
  readonly allowedHosts: readonly string[] | undefined;
  readonly allowedOrigins: readonly string[] | undefined;
  /**
   * This host's own IP addresses: a Host that is one of them (a kubelet probe
   * names the pod by IP) is always allowed. DNS rebinding needs a name; a
   * page that reaches an IP literal is same-origin with it and gains nothing.
   */
  readonly localAddresses?: readonly string[] | undefined;
}

/** The addresses of this host's interfaces, as a Host header would carry them (IPv6 bracketed). */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.family === 'IPv6' ? `[${a.address.toLowerCase()}]` : a.address);
  }
  return out;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** "Name:port" or "[v6]:port" → [lower-case name, port or undefined]. */
function splitHost(value: string): [string, string | undefined] {
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end === -1) return [v, undefined];
    const port = v.slice(end + 1).startsWith(':') ? v.slice(end + 2) : undefined;
    return [v.slice(0, end + 1), port];
  }
  const colon = v.lastIndexOf(':');
  return colon === -1 ? [v, undefined] : [v.slice(0, colon), v.slice(colon + 1)];
}

export class HostGuard {
  /** name → allowed ports (undefined: any port); undefined map: any host. */
  readonly #hosts: Map<string, Set<string> | undefined> | undefined;
  readonly #origins: Set<string> | undefined;
  readonly #localOrigins: boolean;
  readonly #ownAddresses: ReadonlySet<string>;

  constructor(options: HostGuardOptions) {
    const loopback = isLoopback(options.listen.slice(0, options.listen.lastIndexOf(':')));
    if (options.allowedHosts && options.allowedHosts.length > 0) {
      this.#hosts = new Map();
      for (const entry of options.allowedHosts) {
        const [name, port] = splitHost(entry);
        if (!name || (port !== undefined && !/^\d{1,5}$/.test(port))) {
          throw new ConfigError(`allowedHosts: "${entry}" is not a host name or host:port`);
        }
        if (port === undefined) this.#hosts.set(name, undefined);
        else if (!this.#hosts.has(name) || this.#hosts.get(name) !== undefined) {
          const ports = this.#hosts.get(name) ?? new Set<string>();
          ports.add(port);
          this.#hosts.set(name, ports);
        }
      }
    } else if (loopback) {
      this.#hosts = new Map([...LOCAL_NAMES].map((n) => [n, undefined]));
    }
    if (options.allowedOrigins && options.allowedOrigins.length > 0) {
      this.#origins = new Set();
      for (const o of options.allowedOrigins) {
        let url: URL;
        try {
          url = new URL(o);
        } catch {
          throw new ConfigError(`allowedOrigins: "${o}" is not an origin such as https://agent.example.com`);
        }
        if (url.origin === 'null' || url.pathname !== '/' || url.search || url.hash) {
          throw new ConfigError(`allowedOrigins: "${o}" is not an origin (scheme://host[:port], no path)`);
        }
        this.#origins.add(url.origin);
      }
    }
    this.#localOrigins = this.#origins === undefined && loopback;
    this.#ownAddresses = new Set(options.localAddresses ?? []);
  }

  /** Undefined when the request may go on; the refusal otherwise. */
  check(headers: HeaderLookup): SarkError | undefined {
    if (this.#hosts !== undefined) {
      const host = headers.host;
      if (host?.length !== 1) return refuse('SARK_HOST_NOT_ALLOWED', 'a single Host header is required');
      const [name, port] = splitHost(host[0]!);
      if (this.#ownAddresses.has(name)) return this.#checkOrigin(headers);
      if (!this.#hosts.has(name)) return refuse('SARK_HOST_NOT_ALLOWED', `Host ${JSON.stringify(name)} is not allowed`);
      const ports = this.#hosts.get(name);
      if (ports !== undefined && (port === undefined || !ports.has(port))) {
        return refuse('SARK_HOST_NOT_ALLOWED', `Host ${JSON.stringify(host[0])} is not allowed`);
      }
    }
    return this.#checkOrigin(headers);
  }

  #checkOrigin(headers: HeaderLookup): SarkError | undefined {
    const origin = headers.origin;
    if (origin === undefined) return undefined;
    if (origin.length !== 1) return refuse('SARK_ORIGIN_NOT_ALLOWED', 'a single Origin header is required');
    if (this.#originAllowed(origin[0]!)) return undefined;
    return refuse('SARK_ORIGIN_NOT_ALLOWED', `Origin ${JSON.stringify(origin[0])} is not allowed`);
  }

  #originAllowed(origin: string): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.origin === 'null') return false;
    if (this.#origins !== undefined) return this.#origins.has(url.origin);
    return this.#localOrigins && LOCAL_NAMES.has(url.hostname.toLowerCase());
  }
}

function refuse(code: 'SARK_HOST_NOT_ALLOWED' | 'SARK_ORIGIN_NOT_ALLOWED', why: string): SarkError {
  return new SarkError(code, { publicDetail: why });
}
