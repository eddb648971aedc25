// Progress of a realise for `env pull`: a state folded from RealiseEvents (pure), rendered as a
// one-line bar on a terminal or as plain lines (one per finished path) for logs and pipes.
import type { RealiseEvent } from '../nix/index.js';
import { formatBytes } from './format.js';

export interface ProgressState {
  paths: number;
  missing: number;
  done: number;
  present: number;
  bytes: number;
  /** compressed bytes to download (0 when the caches do not say) */
  totalBytes: number;
  startedAt: number;
}

export const initialProgress = (now: number): ProgressState => ({ paths: 0, missing: 0, done: 0, present: 0, bytes: 0, totalBytes: 0, startedAt: now });

export function foldProgress(s: ProgressState, e: RealiseEvent): ProgressState {
  switch (e.type) {
    case 'closure':
      return { ...s, paths: e.paths.length, missing: e.missing.length, totalBytes: e.fileBytes };
    case 'progress':
      return { ...s, bytes: e.totalBytes, totalBytes: Math.max(s.totalBytes, e.totalFileBytes) };
    case 'path-done':
    case 'path-reused':
      return { ...s, done: s.done + 1 };
    case 'path-present':
      return { ...s, present: s.present + 1 };
    default:
      return s;
  }
}

export function rate(s: ProgressState, now: number): number {
  const secs = (now - s.startedAt) / 1000;
  return secs > 0 ? s.bytes / secs : 0;
}

/** `[#######.............]  12 MiB/45 MiB  3/10 paths  4.5 MiB/s` */
export function progressBar(s: ProgressState, now: number, width = 24): string {
  const frac = s.totalBytes > 0 ? Math.min(1, s.bytes / s.totalBytes) : s.missing > 0 ? s.done / s.missing : 0;
  const filled = Math.round(frac * width);
  const total = s.totalBytes > 0 ? `/${formatBytes(s.totalBytes)}` : '';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(s.bytes)}${total}  ${s.done}/${s.missing || '?'} paths  ${formatBytes(Math.round(rate(s, now)))}/s`;
}

/** Plain lines: the closure summary, then one line per fetched path. Undefined: nothing to print. */
export function progressLine(s: ProgressState, e: RealiseEvent, now: number): string | undefined {
  switch (e.type) {
    case 'closure':
      return `closure: ${e.paths.length} paths, ${e.missing.length} to fetch (${formatBytes(e.fileBytes)} download, ${formatBytes(e.narBytes)} unpacked)`;
    case 'path-done':
      return `fetched ${e.path} (${formatBytes(e.fileBytes)}, ${e.ms} ms) [${s.done}/${s.missing}] ${formatBytes(s.bytes)} total, ${formatBytes(Math.round(rate(s, now)))}/s`;
    case 'path-reused':
      return `reused ${e.path} (fetched by another process) [${s.done}/${s.missing}]`;
    case 'retry':
      return `retry ${e.path}: attempt ${e.attempt} in ${e.delayMs} ms (${e.error})`;
    case 'fallback':
      return `${e.path}: ${e.from} failed (${e.error}); trying ${e.to}`;
    case 'substituter':
      return e.error ? `substituter ${e.url}: ${e.error}` : undefined;
    default:
      return undefined;
  }
}
