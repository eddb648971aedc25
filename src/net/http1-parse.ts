// The pure half of our HTTP/1.1 client (http1.ts): the response head, how the body is framed,
// and chunked transfer decoding. No I/O here, so every malformed shape is testable byte by byte.

/** The server broke HTTP/1.1: the connection cannot be trusted for anything more. */
export class HttpProtocolError extends Error {}

/** Largest response head we read (Node's default is 16 KiB; caches and CDNs stay far below). */
export const MAX_HEAD = 64 * 1024;

export interface ResponseHead {
  status: number;
  /** minor version: HTTP/1.0 or HTTP/1.1 */
  minor: 0 | 1;
  /** lower-cased names; repeated fields joined with ", " as RFC 9110 allows */
  headers: Map<string, string>;
  /** bytes of the head, blank line included */
  size: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CRLF2 = Buffer.from('\r\n\r\n');

/** Parses the response head at the start of `buf`; undefined while its blank line has not arrived. */
export function parseResponseHead(buf: Buffer): ResponseHead | undefined {
  const end = buf.indexOf(CRLF2);
  if (end < 0) {
    if (buf.length > MAX_HEAD) throw new HttpProtocolError(`response head larger than ${MAX_HEAD} bytes`);
    return undefined;
  }
  if (end + 4 > MAX_HEAD) throw new HttpProtocolError(`response head larger than ${MAX_HEAD} bytes`);
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/.exec(lines[0]!);
  // messages quote nothing the server sent: they reach the pod's owner, and a server that is no
  // cache (a banner, another service's answer) must not be read through them
  if (!status) throw new HttpProtocolError('malformed status line (not an HTTP/1.x response)');
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    // obsolete line folding (a line starting with white space) is refused, as RFC 9112 allows
    if (colon <= 0 || !TOKEN.test(name)) throw new HttpProtocolError(`malformed header line ${i + 1} of the response head`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers.get(key);
    headers.set(key, seen === undefined ? value : `${seen}, ${value}`);
  }
  return { status: Number(status[2]), minor: status[1] === '1' ? 1 : 0, headers, size: end + 4 };
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** How the body of a response to GET ends (RFC 9112 §6.3). */
export function framingOf(head: ResponseHead): Framing {
  if (head.status < 200 || head.status === 204 || head.status === 304) return { kind: 'none' };
  const te = head.headers.get('transfer-encoding');
  if (te !== undefined) {
    // chunked must be the last coding; anything else runs until the server closes
    const last = te.split(',').at(-1)!.trim().toLowerCase();
    return last === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const cl = head.headers.get('content-length');
  if (cl === undefined) return { kind: 'close' };
  // "n, n" (a repeated field) is allowed when every copy agrees
  const values = new Set(cl.split(',').map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new HttpProtocolError('invalid Content-Length');
  return { kind: 'length', length: Number(only) };
}

/** May the connection carry another request after this response? */
export function reusable(head: ResponseHead, framing: Framing): boolean {
  if (framing.kind === 'close') return false;
  // a response with both Transfer-Encoding and Content-Length must close (RFC 9112 §6.3)
  if (framing.kind === 'chunked' && head.headers.has('content-length')) return false;
  const tokens = (head.headers.get('connection') ?? '').toLowerCase().split(',').map((t) => t.trim());
  return head.minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive');
}

const SIZE = 0;
const DATA = 1;
const DATA_END = 2;
const TRAILER = 3;
const DONE = 4;
const MAX_LINE = 4096;

/**
 * Decodes `Transfer-Encoding: chunked`, fed the raw bytes as they come. Chunk extensions and
 * trailer fields are read and dropped.
 */
export class ChunkedDecoder {
  private state = SIZE;
  private left = 0;
  private line = '';

  get done(): boolean {
    return this.state === DONE;
  }

  /** Feeds bytes; `out` gets the data. Returns how many bytes belonged to this body. */
  push(buf: Buffer, out: (data: Buffer) => void): number {
    let p = 0;
    while (p < buf.length && this.state !== DONE) {
      if (this.state === DATA) {
        const k = Math.min(this.left, buf.length - p);
        out(buf.subarray(p, p + k));
        p += k;
        this.left -= k;
        if (this.left === 0) this.state = DATA_END;
        continue;
      }
      const nl = buf.indexOf(10, p);
      const upto = nl < 0 ? buf.length : nl + 1;
      this.line += buf.toString('latin1', p, upto);
      p = upto;
      if (this.line.length > MAX_LINE) throw new HttpProtocolError('chunked body: line too long');
      if (nl < 0) break;
      if (!this.line.endsWith('\r\n')) throw new HttpProtocolError('chunked body: line not ended by CRLF');
      const line = this.line.slice(0, -2);
      this.line = '';
      if (this.state === DATA_END) {
        if (line !== '') throw new HttpProtocolError('chunked body: chunk not followed by CRLF');
        this.state = SIZE;
      } else if (this.state === SIZE) {
        const size = /^([0-9A-Fa-f]{1,13})[ \t]*(?:;.*)?$/.exec(line);
        if (!size) throw new HttpProtocolError('chunked body: bad chunk size line');
        this.left = Number.parseInt(size[1]!, 16);
        this.state = this.left === 0 ? TRAILER : DATA;
      } else if (line === '') {
        this.state = DONE;
      }
    }
    return p;
  }
}
