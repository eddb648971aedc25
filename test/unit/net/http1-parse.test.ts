// The pure half of the HTTP/1.1 client: response heads, body framing, chunked decoding, on
// well-formed and malformed input, split at every byte.
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder, HttpProtocolError, MAX_HEAD, framingOf, parseResponseHead, reusable } from '../../../src/net/http1-parse.js';

const head = (s: string) => parseResponseHead(Buffer.from(s, 'latin1'));

describe('parseResponseHead', () => {
  it('reads status, version and headers (names lower-cased, repeats joined)', () => {
    const h = head('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a:  2 \r\n\r\nhello')!;
    expect(h.status).toBe(200);
    expect(h.minor).toBe(1);
    expect(h.headers.get('content-length')).toBe('5');
    expect(h.headers.get('x-a')).toBe('1, 2');
    expect(h.size).toBe(Buffer.byteLength('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a:  2 \r\n\r\n'));
  });
  it('waits for the blank line', () => {
    const full = 'HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n';
    for (let i = 0; i < full.length; i++) expect(head(full.slice(0, i))).toBeUndefined();
    expect(head(full)).toMatchObject({ status: 404, minor: 0 });
  });
  it('accepts a status line without a reason phrase', () => {
    expect(head('HTTP/1.1 204\r\n\r\n')?.status).toBe(204);
  });
  it.each([
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['a three-digit status that is not one', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a header without a colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n'],
    ['a folded header line', 'HTTP/1.1 200 OK\r\nA: 1\r\n  continued\r\n\r\n'],
    ['a space in a header name', 'HTTP/1.1 200 OK\r\nA B: 1\r\n\r\n'],
  ])('refuses %s', (_, text) => {
    expect(() => head(text)).toThrow(HttpProtocolError);
  });
  it('quotes nothing of what the server sent in its errors (another service answering: a banner, a page)', () => {
    const secret = 'AKIAFLOXLEAKEDSECRET';
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    const errors = [
      message(() => head(`SSH-2.0-${secret}\r\n\r\n`)),
      message(() => head(`HTTP/1.1 200 OK\r\n${secret}\r\n\r\n`)),
      message(() => framingOf(head(`HTTP/1.1 200 OK\r\nContent-Length: ${secret}\r\n\r\n`)!)),
      message(() => new ChunkedDecoder().push(Buffer.from(`${secret}\r\n`), () => {})),
    ];
    expect(errors).toEqual(['malformed status line (not an HTTP/1.x response)', 'malformed header line 2 of the response head', 'invalid Content-Length', 'chunked body: bad chunk size line']);
  });
  it('refuses a head larger than MAX_HEAD, complete or not', () => {
    const big = `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD)}`;
    expect(() => head(big)).toThrow(/larger than/);
    expect(() => head(`${big}\r\n\r\n`)).toThrow(/larger than/);
  });
});

describe('framingOf and reusable', () => {
  const h = (s: string) => head(`${s}\r\n\r\n`)!;
  it('Content-Length, repeated copies that agree, and ones that do not', () => {
    expect(framingOf(h('HTTP/1.1 200 OK\r\nContent-Length: 12'))).toEqual({ kind: 'length', length: 12 });
    expect(framingOf(h('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Length: 12'))).toEqual({ kind: 'length', length: 12 });
    expect(() => framingOf(h('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Length: 13'))).toThrow(/Content-Length/);
    expect(() => framingOf(h('HTTP/1.1 200 OK\r\nContent-Length: -1'))).toThrow(/Content-Length/);
    expect(() => framingOf(h('HTTP/1.1 200 OK\r\nContent-Length: 0x10'))).toThrow(/Content-Length/);
  });
  it('chunked wins over Content-Length, and such a connection is not reused', () => {
    const both = h('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3');
    expect(framingOf(both)).toEqual({ kind: 'chunked' });
    expect(reusable(both, framingOf(both))).toBe(false);
    const chunked = h('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked');
    expect(framingOf(chunked)).toEqual({ kind: 'chunked' });
    expect(reusable(chunked, framingOf(chunked))).toBe(true);
  });
  it('a coding other than chunked last, or no length at all, reads to close', () => {
    expect(framingOf(h('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip'))).toEqual({ kind: 'close' });
    const none = h('HTTP/1.1 200 OK');
    expect(framingOf(none)).toEqual({ kind: 'close' });
    expect(reusable(none, framingOf(none))).toBe(false);
  });
  it('204, 304 and 1xx have no body', () => {
    for (const s of [204, 304, 100]) expect(framingOf(h(`HTTP/1.1 ${s} X\r\nContent-Length: 9`))).toEqual({ kind: 'none' });
  });
  it('keep-alive by version and Connection', () => {
    const f = { kind: 'length', length: 0 } as const;
    expect(reusable(h('HTTP/1.1 200 OK'), f)).toBe(true);
    expect(reusable(h('HTTP/1.1 200 OK\r\nConnection: Close'), f)).toBe(false);
    expect(reusable(h('HTTP/1.0 200 OK'), f)).toBe(false);
    expect(reusable(h('HTTP/1.0 200 OK\r\nConnection: keep-alive'), f)).toBe(true);
  });
});

describe('ChunkedDecoder', () => {
  const wire = '5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n';
  const decode = (parts: string[]) => {
    const d = new ChunkedDecoder();
    const out: Buffer[] = [];
    let used = 0;
    for (const p of parts) used += d.push(Buffer.from(p, 'latin1'), (b) => out.push(Buffer.from(b)));
    return { text: Buffer.concat(out).toString(), done: d.done, used };
  };
  it('decodes data, extensions and trailers, split at every byte', () => {
    expect(decode([wire])).toEqual({ text: 'hello, world', done: true, used: wire.length });
    for (let i = 1; i < wire.length; i++) expect(decode([wire.slice(0, i), wire.slice(i)])).toMatchObject({ text: 'hello, world', done: true });
    expect(decode([...wire])).toMatchObject({ text: 'hello, world', done: true });
  });
  it('stops at the end of the body and says how much of the input it took', () => {
    expect(decode([`${wire}HTTP/1.1 200 OK`])).toMatchObject({ done: true, used: wire.length });
  });
  it('is not done while the last chunk or the trailer are missing', () => {
    expect(decode(['5\r\nhello\r\n']).done).toBe(false);
    expect(decode(['5\r\nhello\r\n0\r\n']).done).toBe(false);
  });
  it.each([
    ['a size that is not hex', 'zz\r\n'],
    ['a size line without CR', '5\nhello\r\n'],
    ['data not followed by CRLF', '5\r\nhelloXX0\r\n\r\n'],
    ['an absurd size', `${'f'.repeat(14)}\r\n`],
    ['an endless size line', '1'.repeat(5000)],
  ])('refuses %s', (_, text) => {
    expect(() => decode([text])).toThrow(HttpProtocolError);
  });
});
