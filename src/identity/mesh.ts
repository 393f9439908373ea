/**
 * Mesh identity: the SPIFFE ID of the workload that called, as the service
 * mesh proxy in front of SARK saw it in the peer's mTLS certificate.
 *
 * Trust assumption (docs/authentication.md, "Mesh identity"): the header is
 * believed only on connections whose TCP peer address is in
 * `meshTrustedCidrs` — the mesh proxy itself (Envoy/Istio sidecars reach the
 * application from loopback) — and that proxy terminates the caller's mTLS
 * and overwrites or appends the header, so no caller can choose its value.
 * A request from any other address that carries the header is refused, never
 * downgraded.
 *
 * With `x-forwarded-client-cert` (Envoy's XFCC), each proxy on the way may
 * append one element; the last element is the one added by the proxy that
 * terminated the caller's connection, the only one SARK can trust, and its
 * `URI=` must hold exactly one `spiffe://` ID. Format (Envoy "HTTP header
 * manipulation", x-forwarded-client-cert): elements separated by `,`, pairs by
 * `;`, `key=value`, values double-quoted when they contain `,` `;` `=`, with
 * `\"` inside quotes.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError, SarkError } from '../errors.ts';
import { type Actor, type Identity, none } from './identity.ts';

export const XFCC = 'x-forwarded-client-cert';

export type XfccElement = Readonly<Record<string, readonly string[]>>;

/** Parses an XFCC header value into its elements; keys lower-cased, repeated keys kept in order. */
export function parseXfcc(value: string): XfccElement[] {
  const elements: Record<string, string[]>[] = [];
  let element: Record<string, string[]> = {};
  let key = '';
  let buf = '';
  let inKey = true;
  let quoted = false;
  const endPair = () => {
    const k = (inKey ? buf : key).trim().toLowerCase();
    if (k === '' && buf.trim() === '') return;
    if (inKey || k === '') throw new SyntaxError(`XFCC pair without "=": ${k || buf}`);
    const values = element[k] ?? [];
    values.push(buf);
    element[k] = values;
    key = '';
    buf = '';
    inKey = true;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < value.length) buf += value[++i];
      else if (c === '"') quoted = false;
      else buf += c;
    } else if (c === '"' && !inKey && buf === '') {
      quoted = true;
    } else if (c === '=' && inKey) {
      key = buf;
      buf = '';
      inKey = false;
    } else if (c === ';') {
      endPair();
    } else if (c === ',') {
      endPair();
      elements.push(element);
      element = {};
    } else {
      buf += c;
    }
  }
  if (quoted) throw new SyntaxError('XFCC value with an unterminated quote');
  endPair();
  elements.push(element);
  return elements.filter((e) => Object.keys(e).length > 0);
}

/** The caller's SPIFFE ID from an XFCC value: the last element's single spiffe:// URI. */
export function spiffeIdFromXfcc(value: string): string {
  let elements: XfccElement[];
  try {
    elements = parseXfcc(value);
  } catch (err) {
    throw new SarkError('SARK_UNAUTHENTICATED', {
      detail: (err as Error).message,
      publicDetail: 'malformed x-forwarded-client-cert',
    });
  }
  const uris = (elements.at(-1)?.uri ?? []).filter((u) => u.startsWith('spiffe://'));
  if (uris.length !== 1) {
    throw new SarkError('SARK_UNAUTHENTICATED', {
      publicDetail: uris.length === 0 ? 'the mesh peer has no SPIFFE ID' : 'the mesh peer has several SPIFFE IDs',
    });
  }
  return uris[0]!;
}

/** SPIFFE ID: spiffe://trust-domain/path (SPIFFE-ID spec §2): lower-case trust domain, no query or fragment. */
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/;

export interface MeshOptions {
  /** The header: `x-forwarded-client-cert` is parsed as XFCC, any other holds the identity as is. */
  readonly header: string;
  /** CIDRs the header is believed from (the mesh proxy's addresses). */
  readonly trustedCidrs: readonly string[];
  /** When set, only SPIFFE IDs of this trust domain are accepted. */
  readonly trustDomain: string | undefined;
}

/** Builds the address allow-list; throws a ConfigError naming a bad CIDR. */
export function trustedAddresses(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits, ...rest] = cidr.split('/');
    const family = isIP(addr ?? '');
    const prefix = Number(bits ?? (family === 6 ? 128 : 32));
    if (
      rest.length > 0 ||
      family === 0 ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 6 ? 128 : 32)
    ) {
      throw new ConfigError(`meshTrustedCidrs: "${cidr}" is not an IPv4 or IPv6 CIDR such as 127.0.0.1/32`);
    }
    list.addSubnet(addr!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Whether the peer address is in the list; IPv4-mapped IPv6 addresses count as IPv4. */
export function addressTrusted(list: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : undefined;
  if (v4 !== undefined) return list.check(v4, 'ipv4');
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

export class MeshIdentity {
  readonly header: string;
  readonly #xfcc: boolean;
  readonly #trusted: BlockList;
  readonly #trustDomain: string | undefined;
  /** One frozen identity per peer: a mesh has few workloads, and callers repeat. */
  readonly #seen = new Map<string, Identity>();

  constructor(options: MeshOptions) {
    this.header = options.header;
    this.#xfcc = options.header === XFCC;
    this.#trusted = trustedAddresses(options.trustedCidrs);
    if (options.trustDomain !== undefined && !/^[a-z0-9._-]+$/.test(options.trustDomain)) {
      throw new ConfigError(`meshTrustDomain: "${options.trustDomain}" is not a SPIFFE trust domain name`);
    }
    this.#trustDomain = options.trustDomain;
  }

  /** The mesh identity of a request carrying the header; throws SARK_UNAUTHENTICATED when it may not be believed. */
  resolve(values: readonly string[], remoteAddress: string | undefined): Identity {
    if (!addressTrusted(this.#trusted, remoteAddress)) {
      throw new SarkError('SARK_UNAUTHENTICATED', {
        detail: `${this.header} from ${remoteAddress ?? 'an unknown address'}, outside meshTrustedCidrs`,
        publicDetail: 'mesh identity from an untrusted address',
      });
    }
    if (values.length !== 1 || !values[0]) {
      throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'ambiguous mesh identity' });
    }
    const raw = values[0];
    const known = this.#seen.get(raw);
    if (known) return known;
    const id = this.#xfcc ? spiffeIdFromXfcc(raw) : raw.trim();
    const spiffe = SPIFFE_ID.exec(id);
    if (this.#xfcc || id.startsWith('spiffe:')) {
      if (!spiffe) throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'malformed SPIFFE ID' });
    }
    if (this.#trustDomain !== undefined && spiffe?.[1] !== this.#trustDomain) {
      throw new SarkError('SARK_UNAUTHENTICATED', { publicDetail: 'the SPIFFE ID is outside the trusted domain' });
    }
    const identity: Identity = Object.freeze({
      id,
      type: 'service',
      authenticated: true,
      authMethod: 'mesh',
      roles: none<string>(),
      teams: none<string>(),
      scopes: none<string>(),
      delegation: none<Actor>(),
    });
    // Bounded: past this many distinct peers, stop remembering (the cost is a parse).
    if (this.#seen.size < 10_000) this.#seen.set(raw, identity);
    return identity;
  }
}
