// FloxHub's per-environment `metadata.json` (on the environment's floxmeta branch). Two forms:
// v2 `{version: 2, history: [...], total_generations}` where the live generation is the
// `current_generation` of the LAST history entry (a rollback appends a switch entry), and the
// older v1 camelCase `{currentGen, generations: {N: {...}}}` that Flox migrates on read.
import { z } from 'zod';

const GenId = z.union([z.string().regex(/^[1-9][0-9]*$/), z.number().int().positive()]).transform(Number);

const HistoryEntry = z
  .object({
    current_generation: GenId,
    previous_generation: GenId.nullish(),
    timestamp: z.number().optional(),
    author: z.string().optional(),
    // Flox nests the change kind under `info`; accept a flattened `kind` too. Unknown kinds are fine.
    info: z.object({ kind: z.string() }).passthrough().optional(),
    kind: z.string().optional(),
  })
  .passthrough();

const V2 = z
  .object({
    version: z.literal(2),
    history: z.array(HistoryEntry),
    // generations are materialised as 1..total: a hostile total must not hang the create
    total_generations: z.number().int().min(0).max(1_000_000),
  })
  .passthrough();

const V1 = z
  .object({
    version: z.literal(1).optional(),
    currentGen: GenId.nullable(),
    generations: z.record(z.string().regex(/^[1-9][0-9]*$/), z.object({ description: z.string().optional() }).passthrough()),
  })
  .passthrough();

export interface GenerationsMetadata {
  formatVersion: 1 | 2;
  /** The live generation; undefined when the environment has none yet. */
  live: number | undefined;
  /** Every generation that exists (1..total for v2; the map's keys for v1). */
  generations: Set<number>;
}

export class MetadataError extends Error {}

export function parseMetadata(text: string): GenerationsMetadata {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MetadataError(`metadata.json is not JSON (${(e as Error).message})`);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version === 2) {
    const r = V2.safeParse(json);
    if (!r.success) throw new MetadataError(`metadata.json (v2) is invalid: ${issues(r.error)}`);
    const gens = new Set<number>();
    for (let i = 1; i <= r.data.total_generations; i++) gens.add(i);
    const live = r.data.history.at(-1)?.current_generation;
    if (live !== undefined && !gens.has(live)) {
      throw new MetadataError(`metadata.json (v2) names live generation ${live} but has only ${r.data.total_generations}`);
    }
    return { formatVersion: 2, live, generations: gens };
  }
  if (version === undefined || version === 1) {
    const r = V1.safeParse(json);
    if (!r.success) throw new MetadataError(`metadata.json (v1) is invalid: ${issues(r.error)}`);
    const gens = new Set(Object.keys(r.data.generations).map(Number));
    const live = r.data.currentGen ?? undefined;
    if (live !== undefined && !gens.has(live)) throw new MetadataError(`metadata.json (v1) names live generation ${live} that it does not list`);
    return { formatVersion: 1, live, generations: gens };
  }
  throw new MetadataError(`metadata.json has unsupported version ${JSON.stringify(version)}`);
}

export function issues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
