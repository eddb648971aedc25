// The gc decision as a pure function: what is kept and why, what goes.
import { describe, expect, it } from 'vitest';
import { type GcPolicy, type InUse, planGc } from '../../../src/ops/gc-plan.js';
import type { RenderedEnv, StoreEntry } from '../../../src/ops/inventory.js';

const H = (c: string) => c.repeat(32);
const NOW = Date.parse('2026-11-28T00:00:00Z');
const HOUR = 3_600_000;

function path(name: string, c: string, refs: string[] = [], o: Partial<StoreEntry> = {}): StoreEntry {
  return { basename: `${H(c)}-${name}`, references: refs, narSize: 100, users: [], registeredAt: NOW - 48 * HOUR, ...o };
}
const glibc = path('glibc', 'a');
const hello1 = path('hello-1', 'b', [glibc.basename]);
const hello2 = path('hello-2', 'c', [glibc.basename]);
const tool = path('tool', 'd', [glibc.basename]);

function env(environment: string, generation: number, roots: StoreEntry[], o: Partial<RenderedEnv> = {}): RenderedEnv {
  const mode = o.mode ?? 'run';
  return { key: `k-${environment.replace('/', '-')}-${generation}-${mode}`, environment, generation, commit: 'c', mode, hostDir: '/x', roots: roots.map((r) => r.basename), renderedAt: NOW - 24 * HOUR, lastUsed: NOW - 24 * HOUR, useCount: 1, ...o };
}
const none = (): InUse => ({ envKeys: new Set(), generations: new Set(), paths: new Set() });
const policy = (o: Partial<GcPolicy> = {}): GcPolicy => ({ keepGenerations: 1, maxBytes: 0, graceMs: 10 * 60_000, now: NOW, ...o });

describe('planGc', () => {
  const paths = [glibc, hello1, hello2, tool];
  const envs = [env('o/hello', 1, [hello1]), env('o/hello', 2, [hello2]), env('o/tool', 1, [tool])];

  it('keeps the newest N generations per environment and their closures; removes the rest', () => {
    const p = planGc({ envs, paths }, none(), policy());
    expect(p.removeEnvs.map((e) => `${e.environment}:${e.generation}:${e.reason}`)).toEqual(['o/hello:1:old-generation']);
    expect(p.keepEnvs.map((e) => `${e.environment}:${e.generation}:${e.reason}`)).toEqual(['o/hello:2:kept-generation', 'o/tool:1:kept-generation']);
    expect(p.removePaths.map((x) => x.basename)).toEqual([hello1.basename]);
    expect(p).toMatchObject({ keptPaths: 3, bytesBefore: 400, bytesAfter: 300, overLimit: false });
  });

  it('never removes what a container uses: by render key, by exec record generation, by mounted path', () => {
    const byKey = planGc({ envs, paths }, { ...none(), envKeys: new Set([envs[0]!.key]) }, policy({ keepGenerations: 0 }));
    expect(byKey.keepEnvs.map((e) => [e.key, e.reason])).toEqual([[envs[0]!.key, 'in-use']]);
    expect(byKey.removePaths.map((x) => x.basename).sort()).toEqual([hello2.basename, tool.basename].sort());
    const byGen = planGc({ envs, paths }, { ...none(), generations: new Set(['o/tool:1']) }, policy({ keepGenerations: 0 }));
    expect(byGen.keepEnvs.map((e) => e.environment)).toEqual(['o/tool']);
    const byPath = planGc({ envs, paths }, { ...none(), paths: new Set([hello2.basename]) }, policy({ keepGenerations: 0 }));
    expect(byPath.removeEnvs).toHaveLength(3);
    expect(byPath.removePaths.map((x) => x.basename).sort()).toEqual([hello1.basename, tool.basename].sort());
  });

  it('keeps envs used and paths registered within the grace period', () => {
    const recent = [env('o/hello', 1, [hello1], { lastUsed: NOW - 60_000 }), env('o/hello', 2, [hello2])];
    const fresh = { ...tool, registeredAt: NOW - 1000 };
    const p = planGc({ envs: recent, paths: [glibc, hello1, hello2, fresh] }, none(), policy({ keepGenerations: 0 }));
    expect(p.keepEnvs.map((e) => [e.generation, e.reason])).toEqual([[1, 'recent']]);
    expect(p.removePaths.map((x) => x.basename)).toEqual([hello2.basename]);
  });

  it('counts generations only realised (metadata users) and keeps their paths when they are newest', () => {
    const h3 = path('hello-3', 'e', [glibc.basename], { users: ['o/hello:3'] });
    const p = planGc({ envs, paths: [...paths, h3] }, none(), policy());
    // generation 3 (no render) is the newest: both renders of o/hello go, h3 stays
    expect(p.removeEnvs.map((e) => `${e.environment}:${e.generation}`)).toEqual(['o/hello:1', 'o/hello:2']);
    expect(p.removePaths.map((x) => x.basename).sort()).toEqual([hello1.basename, hello2.basename].sort());
  });

  it('over gc.max-bytes removes the least recently used kept generations, never in-use ones', () => {
    const lru = [env('o/hello', 2, [hello2], { lastUsed: NOW - 5 * HOUR }), env('o/tool', 1, [tool], { lastUsed: NOW - 2 * HOUR }), env('o/x', 1, [hello1], { lastUsed: NOW - 9 * HOUR })];
    const p = planGc({ envs: lru, paths }, { ...none(), envKeys: new Set([lru[2]!.key]) }, policy({ maxBytes: 250 }));
    expect(p.removeEnvs.map((e) => `${e.environment}:${e.reason}`)).toEqual(['o/hello:over-limit', 'o/tool:over-limit']);
    expect(p.keepEnvs.map((e) => e.environment)).toEqual(['o/x']);
    expect(p.bytesAfter).toBe(200);
    expect(p.overLimit).toBe(false);
    const tight = planGc({ envs: lru, paths }, { ...none(), envKeys: new Set([lru[2]!.key]) }, policy({ maxBytes: 100 }));
    expect(tight.overLimit).toBe(true);
  });

  it('never removes a path whose metadata it could not read, nor what that path references', () => {
    const bad = { ...tool, corrupt: true as const, references: [] };
    const p = planGc({ envs: [], paths: [glibc, bad] }, none(), policy({ keepGenerations: 0 }));
    expect(p.removePaths.map((x) => x.basename)).toEqual([glibc.basename]);
  });

  it('forgets removed generations in the users of kept paths', () => {
    const g = { ...glibc, users: ['o/hello:1', 'o/hello:2', 'o/tool:1'] };
    const p = planGc({ envs, paths: [g, hello1, hello2, tool] }, none(), policy());
    expect(p.dropUsers).toEqual([{ basename: glibc.basename, user: 'o/hello:1' }]);
  });

  it('the kept set is closed under references', () => {
    const p = planGc({ envs, paths }, none(), policy());
    const removed = new Set(p.removePaths.map((x) => x.basename));
    for (const x of paths.filter((q) => !removed.has(q.basename))) for (const r of x.references) expect(removed.has(r)).toBe(false);
  });
});
