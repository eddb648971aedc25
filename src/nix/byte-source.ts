// Pulls exact byte counts out of an async stream of chunks without ever holding more than one
// chunk: the NAR reader asks for tokens, and for file contents it gets them piece by piece.
export class TruncatedError extends Error {}

export class ByteSource {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;
  /** bytes consumed so far */
  offset = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  static from(src: AsyncIterable<Uint8Array>): ByteSource {
    return new ByteSource(src[Symbol.asyncIterator]());
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      this.buf = r.value;
      this.pos = 0;
    }
    return true;
  }

  /** Bytes readable without waiting. */
  available(): number {
    return this.buf.length - this.pos;
  }

  /** The next 8 bytes as a little-endian u64, not consumed; needs available() >= 8. */
  peekU64(): bigint {
    const b = this.buf;
    const p = this.pos;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16)) + b[p + 7]! * 0x1000000;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** `n` bytes that are available() now, as a view (valid until the next read). */
  takeSync(n: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return out;
  }

  /** Exactly `n` bytes (n small: tokens), copied. */
  async take(n: number): Promise<Buffer> {
    if (this.buf.length - this.pos >= n) {
      const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
      this.pos += n;
      this.offset += n;
      return out;
    }
    const out = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      if (!(await this.fill())) throw new TruncatedError(`unexpected end of data at byte ${this.offset}`);
      const k = Math.min(n - got, this.buf.length - this.pos);
      out.set(this.buf.subarray(this.pos, this.pos + k), got);
      this.pos += k;
      got += k;
      this.offset += k;
    }
    return out;
  }

  /** `n` bytes as a sequence of views into the incoming chunks (valid until the next call). */
  async *chunks(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw new TruncatedError(`unexpected end of data at byte ${this.offset}`);
      const k = Math.min(left, this.buf.length - this.pos);
      const view = this.buf.subarray(this.pos, this.pos + k);
      this.pos += k;
      left -= k;
      this.offset += k;
      yield view;
    }
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /** Stops the upstream (e.g. cancels an HTTP body) after an error. */
  async close(): Promise<void> {
    this.done = true;
    await this.it.return?.();
  }
}
