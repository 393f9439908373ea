/**
 * A strict JSON parser for everything that reaches the policy. JSON.parse is
 * permissive where parsers disagree, and a sidecar must not judge one message
 * while the server behind it reads another (RFC 8259 §4: names SHOULD be
 * unique; behaviour with duplicates is unpredictable). So this parser refuses:
 * - duplicate object keys, at any depth;
 * - the keys `__proto__`, `constructor` and `prototype` (prototype pollution
 *   in JavaScript servers behind SARK);
 * - invalid UTF-8 in the bytes, and lone surrogates in `\u` escapes;
 * - nesting deeper than `maxDepth`, strings longer than `maxStringLength`,
 *   arrays longer than `maxArrayLength`, objects with more than `maxKeys` keys;
 * - anything RFC 8259 does not allow (comments, trailing commas, NaN, leading
 *   zeros, unescaped control characters, a BOM, trailing garbage).
 * Errors carry a position and a short reason; they never echo the input.
 */
import { isUtf8 } from 'node:buffer';

export interface JsonLimits {
  readonly maxDepth: number;
  readonly maxStringLength: number;
  readonly maxArrayLength: number;
  readonly maxKeys: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = Object.freeze({
  maxDepth: 64,
  maxStringLength: 1024 * 1024,
  maxArrayLength: 10_000,
  maxKeys: 1_000,
});

export class StrictJsonError extends Error {
  /** `syntax` for malformed JSON; the others for well-formed JSON SARK refuses. */
  readonly kind: 'syntax' | 'encoding' | 'duplicate_key' | 'forbidden_key' | 'limit';
  readonly position: number;
  constructor(kind: StrictJsonError['kind'], message: string, position: number) {
    super(`${message} at position ${position}`);
    this.name = 'StrictJsonError';
    this.kind = kind;
    this.position = position;
  }
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function parseStrictJson(input: Buffer | string, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  let text: string;
  if (typeof input === 'string') {
    if (!input.isWellFormed()) throw new StrictJsonError('encoding', 'lone surrogate', 0);
    text = input;
  } else {
    if (!isUtf8(input)) throw new StrictJsonError('encoding', 'invalid UTF-8', 0);
    text = input.toString('utf8');
  }
  const p = new Parser(text, limits);
  p.ws();
  const value = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail('syntax', 'unexpected data after the JSON value');
  return value;
}

class Parser {
  i = 0;
  readonly s: string;
  readonly limits: JsonLimits;

  constructor(s: string, limits: JsonLimits) {
    this.s = s;
    this.limits = limits;
  }

  fail(kind: StrictJsonError['kind'], message: string): never {
    throw new StrictJsonError(kind, message, this.i);
  }

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.i = i;
  }

  value(depth: number): unknown {
    const c = this.s.charCodeAt(this.i);
    switch (c) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        if (Number.isNaN(c)) this.fail('syntax', 'unexpected end of input');
        return this.fail('syntax', 'unexpected character');
    }
  }

  literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('syntax', 'unexpected character');
    this.i += word.length;
    return v;
  }

  number(): number {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) this.fail('syntax', 'invalid number');
    this.i += m[0].length;
    const n = Number(m[0]);
    if (!Number.isFinite(n)) this.fail('limit', 'number out of range');
    return n;
  }

  string(): string {
    const s = this.s;
    const start = ++this.i;
    let i = start;
    let out = '';
    let chunk = start;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (Number.isNaN(c)) {
        this.i = i;
        this.fail('syntax', 'unterminated string');
      }
      if (c < 0x20) {
        this.i = i;
        this.fail('syntax', 'control character in string');
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        // Decoded from valid UTF-8, surrogates only come in pairs; checked for escapes below.
        i += c <= 0xdbff ? 2 : 1;
        continue;
      }
      if (c === 0x5c) {
        out += s.slice(chunk, i);
        i++;
        const e = s.charCodeAt(i);
        switch (e) {
          case 0x22:
            out += '"';
            break;
          case 0x5c:
            out += '\\';
            break;
          case 0x2f:
            out += '/';
            break;
          case 0x62:
            out += '\b';
            break;
          case 0x66:
            out += '\f';
            break;
          case 0x6e:
            out += '\n';
            break;
          case 0x72:
            out += '\r';
            break;
          case 0x74:
            out += '\t';
            break;
          case 0x75: {
            const cu = this.hex4(i + 1);
            i += 4;
            if (cu >= 0xd800 && cu <= 0xdbff) {
              if (s.charCodeAt(i + 1) !== 0x5c || s.charCodeAt(i + 2) !== 0x75) {
                this.i = i;
                this.fail('encoding', 'lone surrogate in \\u escape');
              }
              const lo = this.hex4(i + 3);
              if (lo < 0xdc00 || lo > 0xdfff) {
                this.i = i;
                this.fail('encoding', 'lone surrogate in \\u escape');
              }
              out += String.fromCharCode(cu, lo);
              i += 6;
            } else if (cu >= 0xdc00 && cu <= 0xdfff) {
              this.i = i;
              this.fail('encoding', 'lone surrogate in \\u escape');
            } else {
              out += String.fromCharCode(cu);
            }
            break;
          }
          default:
            this.i = i;
            this.fail('syntax', 'invalid escape');
        }
        i++;
        chunk = i;
        continue;
      }
      i++;
    }
    out = chunk === start ? s.slice(start, i) : out + s.slice(chunk, i);
    this.i = i + 1;
    if (out.length > this.limits.maxStringLength) this.fail('limit', 'string longer than the limit');
    return out;
  }

  hex4(at: number): number {
    const h = this.s.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) {
      this.i = at;
      this.fail('syntax', 'invalid \\u escape');
    }
    return Number.parseInt(h, 16);
  }

  array(depth: number): unknown[] {
    if (depth > this.limits.maxDepth) this.fail('limit', 'nesting deeper than the limit');
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth));
      if (out.length > this.limits.maxArrayLength) this.fail('limit', 'array longer than the limit');
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) {
        this.i--;
        this.fail('syntax', "expected ',' or ']'");
      }
    }
  }

  object(depth: number): Record<string, unknown> {
    if (depth > this.limits.maxDepth) this.fail('limit', 'nesting deeper than the limit');
    this.i++;
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail('syntax', 'expected a string key');
      const keyAt = this.i;
      const key = this.string();
      if (FORBIDDEN_KEYS.has(key)) {
        this.i = keyAt;
        this.fail('forbidden_key', `forbidden key ${JSON.stringify(key)}`);
      }
      if (seen.has(key)) {
        this.i = keyAt;
        this.fail('duplicate_key', 'duplicate key');
      }
      seen.add(key);
      if (seen.size > this.limits.maxKeys) this.fail('limit', 'object with more keys than the limit');
      this.ws();
      if (this.s.charCodeAt(this.i++) !== 0x3a) {
        this.i--;
        this.fail('syntax', "expected ':'");
      }
      this.ws();
      out[key] = this.value(depth);
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) {
        this.i--;
        this.fail('syntax', "expected ',' or '}'");
      }
    }
  }
}
