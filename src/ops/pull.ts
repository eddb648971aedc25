// `env pull`: what an activation does before it touches a spec — resolve the generation,
// realise its closure into the node store, render the profile — ahead of time, with progress.
// Holds the gc lock shared like an activation, and checks at the end (still under it) that the
// whole closure is valid, so a pulled environment is complete when this returns.
import { FloxError } from '../errors.js';
import type { Config } from '../config/schema.js';
import { renderEnvironment, selectPackages, storePathsOf, type Mode } from '../env/index.js';
import { resolveEnvironment, type ResolvedEnvironment } from '../floxhub/index.js';
import type { Logger } from '../log/logger.js';
import { isValidPath, nodeStoreDir, parseStorePath, realiseClosure, realiseWithHostNix, type RealiseEvent, type RealiseResult } from '../nix/index.js';
import { NIX_STORE } from '../inject/modifiers.js';
import type { EnvironmentRef } from '../pod/environment-ref.js';
import { withGcShared } from './gc-lock.js';
import { recordUsage } from './usage.js';

export interface PullOptions {
  config: Config;
  ref: EnvironmentRef;
  mode: Mode;
  token?: string;
  log: Logger;
  onEvent?: (e: RealiseEvent) => void;
  onPhase?: (phase: 'resolve' | 'realise' | 'render', detail?: string) => void;
}

export interface PullResult {
  environment: string;
  generation: number;
  commit: string;
  mode: Mode;
  renderKey: string;
  hostDir: string;
  rendered: 'new' | 'cached';
  paths: number;
  pathsFetched: number;
  bytesFetched: number;
  narBytes: number;
  ms: number;
}

export async function pullEnvironment(o: PullOptions): Promise<PullResult> {
  const { config } = o;
  const stateDir = config.runtime.stateDir;
  const t0 = Date.now();
  return withGcShared(config, async () => {
    o.onPhase?.('resolve');
    const resolved: ResolvedEnvironment = await resolveEnvironment(o.ref, {
      gitUrl: config.floxhub.gitUrl,
      stateDir,
      ...(o.token !== undefined && { token: o.token }),
      timeoutMs: config.floxhub.timeoutMs,
      maxCloneBytes: config.floxhub.maxCloneBytes,
      log: o.log,
    });
    const shown = `${resolved.description}:${resolved.generation}`;
    o.onPhase?.('realise', shown);
    const wanted = storePathsOf(selectPackages(resolved, config.runtime.system));
    const hostNix = config.runtime.storeMode === 'nix';
    const realised: RealiseResult = hostNix
      ? await realiseWithHostNix(wanted, { substituters: config.nix.substituters, trustedPublicKeys: config.nix.trustedPublicKeys, timeoutMs: config.nix.timeoutMs })
      : await realiseClosure(wanted, {
          stateDir,
          substituters: config.nix.substituters,
          trustedPublicKeys: config.nix.trustedPublicKeys,
          maxParallel: config.nix.maxParallelDownloads,
          timeoutMs: config.nix.timeoutMs,
          user: shown,
          ...(o.onEvent && { onEvent: o.onEvent }),
        });
    o.onPhase?.('render', shown);
    const rendered = await renderEnvironment({ resolved, mode: o.mode, system: config.runtime.system, stateDir, storeDir: hostNix ? NIX_STORE : nodeStoreDir(stateDir), log: o.log });
    if (!hostNix) {
      const missing = realised.closure.filter((p) => !isValidPath(stateDir, parseStorePath(p).basename));
      if (missing.length) throw new FloxError('store', `${shown}: ${missing.length} closure path(s) missing after realise (${missing.slice(0, 3).join(', ')}); run \`flox-runtime env pull\` again`);
    }
    recordUsage(stateDir, { resolved, mode: o.mode, system: config.runtime.system, key: rendered.key, closure: realised.closure });
    return {
      environment: resolved.description,
      generation: resolved.generation,
      commit: resolved.commit,
      mode: o.mode,
      renderKey: rendered.key,
      hostDir: rendered.hostDir,
      rendered: rendered.created ? 'new' : 'cached',
      paths: realised.closure.length,
      pathsFetched: realised.fetched.length,
      bytesFetched: realised.bytesDownloaded,
      narBytes: realised.narBytes,
      ms: Date.now() - t0,
    };
  });
}
