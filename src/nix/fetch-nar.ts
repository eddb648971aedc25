// Downloads one NAR file and unpacks it into `dest` in a single streaming pass, checking
// FileSize/FileHash on the bytes as served and NarSize/NarHash on the decompressed archive.
import { createHash } from 'node:crypto';
import { FloxError } from '../errors.js';
import { DecompressError, decompressor } from './decompress.js';
import { type FetchOptions, TransientError, openBody } from './http.js';
import { NarError, unpackNar, type UnpackResult } from './nar.js';
import type { NarInfo } from './narinfo.js';

export interface FetchNarOptions extends FetchOptions {
  /** the substituter's base URL, for messages and for resolving info.url */
  substituter: string;
  onBytes?: (n: number) => void;
  /** see DecompressorOptions.nativeMinBytes */
  nativeMinBytes?: number;
}

export interface FetchNarResult extends UnpackResult {
  fileBytes: number;
}

/** Counts and hashes a stream as it passes, and checks it against the expected size/hash. */
async function* verified(
  src: AsyncIterable<Uint8Array>,
  expectSize: number | undefined,
  expectHash: Buffer | undefined,
  label: string,
  onBytes: (n: number) => void,
  truncatedIsTransient: boolean,
): AsyncIterable<Uint8Array> {
  const h = createHash('sha256');
  let n = 0;
  for await (const c of src) {
    n += c.length;
    if (expectSize !== undefined && n > expectSize) throw new FloxError('nix-hash', `${label} is longer than the ${expectSize} bytes its narinfo declares`);
    h.update(c);
    onBytes(c.length);
    yield c;
  }
  if (expectSize !== undefined && n < expectSize) {
    const msg = `${label} ends after ${n} of ${expectSize} bytes`;
    throw truncatedIsTransient ? new TransientError(msg) : new FloxError('nix-hash', msg);
  }
  const got = h.digest();
  if (expectHash && !got.equals(expectHash)) {
    throw new FloxError('nix-hash', `${label} is corrupt: it does not match its hash (expected sha256:${expectHash.toString('hex')}, got sha256:${got.toString('hex')})`);
  }
}

export async function fetchNar(info: NarInfo, dest: string, opts: FetchNarOptions): Promise<FetchNarResult> {
  const url = `${opts.substituter}/${info.url}`;
  const body = await openBody(url, opts);
  let fileBytes = 0;
  const file = verified(
    body,
    info.fileSize,
    info.fileHash?.algo === 'sha256' ? info.fileHash.digest : undefined,
    `${url} (for ${info.storePath})`,
    (k) => {
      fileBytes += k;
      opts.onBytes?.(k);
    },
    true,
  );
  const nar = verified(decompressor(info.compression, { narSize: info.narSize, ...(info.fileSize !== undefined ? { fileSize: info.fileSize } : {}), ...(opts.nativeMinBytes !== undefined ? { nativeMinBytes: opts.nativeMinBytes } : {}) })(file), info.narSize, info.narHash.digest, `NAR of ${info.storePath} from ${opts.substituter}`, () => {}, false);
  // The reader must not close the stream on a format error: draining the rest decides whether
  // the archive is corrupt (hash mismatch: tampered or damaged) or a validly signed hostile NAR.
  const narIt = nar[Symbol.asyncIterator]();
  const shielded: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => narIt.next() }) };
  try {
    const r = await unpackNar(shielded, dest, { narSize: info.narSize, what: `${info.storePath} from ${opts.substituter}` });
    return { ...r, fileBytes };
  } catch (e) {
    if (e instanceof NarError) {
      try {
        while (!(await narIt.next()).done);
      } catch (drainError) {
        throw wrap(drainError, url, info);
      }
    } else {
      await narIt.return?.().catch(() => {});
    }
    throw wrap(e, url, info);
  }
}

function wrap(e: unknown, url: string, info: NarInfo): unknown {
  if (e instanceof DecompressError) {
    return new FloxError('nix-hash', `${url} (for ${info.storePath}) is corrupt: ${info.compression} decompression failed: ${e.message}`);
  }
  return e;
}
