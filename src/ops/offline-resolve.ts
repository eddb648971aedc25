// Resolving an environment from the node's FloxHub cache alone (explain --offline): the pinned
// generation's pointer, else the last seen branch head's live generation. Reads only.
import { FloxError } from '../errors.js';
import { envCacheDir, headPointer, pinPointer, readCommitFile, readPointer } from '../floxhub/cache.js';
import type { ResolvedEnvironment } from '../floxhub/index.js';
import { parseLockfile } from '../floxhub/lockfile.js';
import { parseManifestToml } from '../floxhub/manifest.js';
import { parseMetadata } from '../floxhub/metadata.js';
import { type EnvironmentRef, formatEnvironmentRef } from '../pod/environment-ref.js';

export async function resolveFromCache(ref: EnvironmentRef, opts: { gitUrl: string; stateDir: string }): Promise<ResolvedEnvironment> {
  const shown = formatEnvironmentRef(ref);
  const dir = envCacheDir(opts.stateDir, opts.gitUrl, ref.owner, ref.name);
  const pointer = (ref.generation !== undefined ? await readPointer(pinPointer(dir, ref.generation)) : undefined) ?? (await readPointer(headPointer(dir)));
  const miss = (why: string) => new FloxError('floxhub-unreachable', `--offline: the node's FloxHub cache has no usable copy of ${shown} (${why}); run without --offline, or \`flox-runtime env pull ${shown}\` first`);
  if (!pointer) throw miss('never resolved on this node');
  const metaText = await readCommitFile(dir, pointer.commit, 'metadata.json');
  if (metaText === undefined) throw miss(`commit ${pointer.commit.slice(0, 12)} not cached`);
  const meta = parseMetadata(metaText);
  const generation = ref.generation ?? meta.live;
  if (generation === undefined || !meta.generations.has(generation)) throw miss(`generation ${generation ?? 'live'} not in the cached metadata`);
  const manifestToml = await readCommitFile(dir, pointer.commit, `${generation}/env/manifest.toml`);
  const lockJson = await readCommitFile(dir, pointer.commit, `${generation}/env/manifest.lock`);
  if (manifestToml === undefined || lockJson === undefined) throw miss(`generation ${generation} files not cached`);
  const lock = parseLockfile(lockJson);
  return {
    ref,
    generation,
    live: ref.generation === undefined,
    commit: pointer.commit,
    manifestToml,
    lockJson,
    fromCache: true,
    manifest: lock.manifest ?? parseManifestToml(manifestToml),
    lock,
    description: `${ref.owner}/${ref.name}`,
    metadataVersion: meta.formatVersion,
    staleReason: 'offline: resolved from the node cache only',
  };
}
