// 'nix' store mode: the node already runs Nix, so let the host's nix-store substitute into its
// own /nix/store (with our substituters and keys) and only report what happened.
import { FloxError } from '../errors.js';
import type { RealiseEvent, RealiseResult } from './realise.js';
import { parseStorePath } from './store-path.js';

export interface HostNixOptions {
  substituters: string[];
  trustedPublicKeys: string[];
  /** `--store` for nix-store (tests use a chroot store); default: the host's store */
  store?: string;
  nixStore?: string;
  timeoutMs?: number;
  onEvent?: (e: RealiseEvent) => void;
  signal?: AbortSignal;
}

export async function realiseWithHostNix(storePaths: string[], opts: HostNixOptions): Promise<RealiseResult> {
  const paths = [...new Set(storePaths.map((p) => parseStorePath(p).path))];
  const bin = opts.nixStore ?? 'nix-store';
  const common = [
    ...(opts.store ? ['--store', opts.store] : []),
    '--option', 'substituters', opts.substituters.join(' '),
    '--option', 'trusted-public-keys', opts.trustedPublicKeys.join(' '),
    // our caller decides what is fresh: never trust a cached "not found"
    '--option', 'narinfo-cache-negative-ttl', '0',
  ];
  const { execa } = await import('execa'); // only nodes in 'nix' mode pay for loading it
  const run = async (args: string[]) => {
    try {
      return await execa(bin, [...common, ...args], {
        ...(opts.signal ? { cancelSignal: opts.signal } : {}),
        ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
        env: { NIX_REMOTE: opts.store ? 'local' : (process.env.NIX_REMOTE ?? '') },
        stdin: 'ignore',
      });
    } catch (e) {
      const stderr = String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim().split('\n').slice(-3).join(' | ');
      const kind = /lacks a valid signature|not signed by any of the keys/.test(stderr) ? 'nix-signature' : /hash mismatch/.test(stderr) ? 'nix-hash' : /is not valid|don't know how to build/.test(stderr) ? 'nix-missing' : 'nix-fetch';
      throw new FloxError(kind, `nix-store ${args[0]} ${paths.join(' ')} failed (substituters: ${opts.substituters.join(' ')}): ${stderr}`, { cause: e });
    }
  };
  // what is missing, as nix-store itself sees it
  const dry = await run(['--realise', '--dry-run', ...paths]);
  const fetched = [...dry.stderr.matchAll(/^\s+(\/nix\/store\/\S+)$/gm)].map((m) => m[1]!).filter((p) => !p.endsWith('.drv'));
  for (const p of fetched) opts.onEvent?.({ type: 'path-start', path: p, substituter: opts.substituters[0] ?? '', narSize: 0 });
  await run(['--realise', ...paths]);
  const closure = (await run(['--query', '--requisites', ...paths])).stdout.split('\n').filter(Boolean).sort();
  const fetchedSet = new Set(fetched);
  return {
    closure,
    fetched: closure.filter((p) => fetchedSet.has(p)),
    present: closure.filter((p) => !fetchedSet.has(p)),
    bytesDownloaded: 0,
    narBytes: 0,
  };
}
