// readAhead: a native decoder's output is read as it is written, into a bounded queue, so the
// decoder runs beside a busy main thread instead of waiting for it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readAhead } from '../../../src/net/chunk-queue.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('readAhead', () => {
  it('takes chunks in before they are asked for, up to the bound, then pauses the stream; all arrive in order', async () => {
    const src = new PassThrough();
    const chunks = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1000, i));
    const it = readAhead(src, 2500)[Symbol.asyncIterator]();
    const first = it.next(); // starts the generator: listening from here on
    for (const c of chunks) src.write(c);
    src.end();
    await tick();
    // nothing read beyond the first chunk, yet three more are held and the stream is paused
    expect(src.readableLength).toBeGreaterThan(0);
    expect(src.isPaused()).toBe(true);
    const got = [(await first).value as Uint8Array];
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
    expect(Buffer.concat(got)).toEqual(Buffer.concat(chunks));
  });

  it('ends with the stream, and throws the stream error after the data before it', async () => {
    const src = new PassThrough();
    const got: Uint8Array[] = [];
    const reading = (async () => {
      for await (const c of readAhead(src, 1 << 20)) got.push(c);
    })();
    src.write(Buffer.from('abc'));
    await tick();
    src.destroy(new Error('broken pipe'));
    await expect(reading).rejects.toThrow('broken pipe');
    expect(Buffer.concat(got).toString()).toBe('abc');
  });

  it('drains a real child process that writes more than a socket buffer holds while nobody asks', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const it = readAhead(child.stdout, 8 * 1024 * 1024)[Symbol.asyncIterator]();
    const first = it.next();
    child.stdin.end(data);
    // cat can only finish if its output is taken while this test reads nothing more
    expect(await exited).toBe(0);
    const got = [(await first).value as Uint8Array];
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });
});
