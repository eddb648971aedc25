// Chunks between a producer that pushes them (a socket's or a child's 'data' events) and one
// async reader. Above `max` queued bytes the producer is asked to pause, and to resume once the
// reader has taken the queue down to half of it: the producer is read as fast as it writes, and
// memory stays bounded when the reader is slower.
import type { Readable } from 'node:stream';

export interface Flow {
  pause(): void;
  resume(): void;
}

export class ChunkQueue<T extends Uint8Array = Uint8Array> {
  private readonly chunks: T[] = [];
  private size = 0;
  private closed = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly max: number,
    private readonly flow: Flow,
  ) {}

  /** bytes queued and not yet taken by the reader */
  get buffered(): number {
    return this.size;
  }

  push(chunk: T): void {
    if (!chunk.length) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.max) this.flow.pause();
    this.poke();
  }

  /** No more chunks: the reader ends after those queued. */
  end(): void {
    this.closed = true;
    this.poke();
  }

  /** The reader throws `e` after the chunks queued before it (the first failure counts). */
  fail(e: Error): void {
    this.failure ??= e;
    this.closed = true;
    this.poke();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.size -= chunk.length;
        if (!this.closed && this.size <= this.max / 2) this.flow.resume();
        yield chunk;
      } else if (this.failure) {
        throw this.failure;
      } else if (this.closed) {
        return;
      } else {
        await new Promise<void>((r) => (this.wake = r));
      }
    }
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** A readable's chunks as they arrive, read ahead of the caller by up to `max` bytes. */
export async function* readAhead(stream: Readable, max: number): AsyncIterable<Uint8Array> {
  const queue = new ChunkQueue(max, {
    pause: () => stream.pause(),
    resume: () => {
      if (stream.isPaused()) stream.resume();
    },
  });
  const onData = (c: Uint8Array) => queue.push(c);
  const onEnd = () => queue.end();
  const onError = (e: Error) => queue.fail(e);
  stream.on('data', onData).once('end', onEnd).once('close', onEnd).once('error', onError);
  try {
    yield* queue;
  } finally {
    stream.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onError);
  }
}
