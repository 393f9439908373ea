/**
 * Server-Sent Events framing (WHATWG HTML, "Server-sent events": lines end in
 * CRLF, LF or CR; a blank line ends an event). The splitter cuts a byte stream
 * into complete raw events so that each can be passed on untouched or, when a
 * message inside must change, re-serialized; events that are not changed keep
 * their exact bytes.
 */
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly retry: string | undefined;
  /** The data lines joined with "\n"; undefined when the event has no data field. */
  readonly data: string | undefined;
}

const BOUNDARY = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/;

export class SseSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #buffer = '';

  /** Returns the complete events in `chunk` (each with its terminating blank line). */
  push(chunk: Buffer): string[] {
    this.#buffer += this.#decoder.write(chunk);
    const out: string[] = [];
    for (;;) {
      const m = BOUNDARY.exec(this.#buffer);
      if (!m) break;
      const end = m.index + m[0].length;
      out.push(this.#buffer.slice(0, end));
      this.#buffer = this.#buffer.slice(end);
    }
    return out;
  }

  /** Whatever is left when the stream ends (an unterminated event is dropped by SSE clients too). */
  rest(): string {
    return this.#buffer + this.#decoder.end();
  }
}

export function parseSseEvent(raw: string): SseEvent {
  let id: string | undefined;
  let event: string | undefined;
  let retry: string | undefined;
  let data: string[] | undefined;
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        if (data === undefined) data = [];
        data.push(value);
        break;
      case 'event':
        event = value;
        break;
      case 'id':
        id = value;
        break;
      case 'retry':
        retry = value;
        break;
    }
  }
  return { id, event, retry, data: data?.join('\n') };
}

export function serializeSseEvent(e: SseEvent): string {
  let out = '';
  if (e.id !== undefined) out += `id: ${e.id}\n`;
  if (e.event !== undefined) out += `event: ${e.event}\n`;
  if (e.retry !== undefined) out += `retry: ${e.retry}\n`;
  if (e.data !== undefined) for (const line of e.data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}
