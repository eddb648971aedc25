// `env ls`: environments and generations on this node, pure over the inventory: one row per
// (environment, generation) with its rendered modes, closure size on disk (NAR bytes of the
// closure paths present) and when it was last used.
import { closureOf, type Inventory } from './inventory.js';
import { formatAge, formatBytes, table } from './format.js';

export interface EnvListing {
  environment: string;
  generation: number;
  modes: string[];
  renderKeys: string[];
  commit?: string;
  /** resolved on this node (FloxHub cache) */
  cached: boolean;
  rendered: boolean;
  closurePaths: number;
  closureBytes: number;
  lastUsed?: string;
  useCount: number;
}

export function listEnvironments(inv: Inventory): EnvListing[] {
  const byName = new Map(inv.paths.map((p) => [p.basename, p]));
  const rows = new Map<string, EnvListing & { roots: Set<string>; last: number }>();
  const row = (environment: string, generation: number) => {
    const k = `${environment}:${generation}`;
    let r = rows.get(k);
    if (!r) {
      r = { environment, generation, modes: [], renderKeys: [], cached: false, rendered: false, closurePaths: 0, closureBytes: 0, useCount: 0, roots: new Set(), last: 0 };
      rows.set(k, r);
    }
    return r;
  };
  for (const c of inv.cached) for (const g of c.generations) row(c.environment, g).cached = true;
  for (const e of inv.envs) {
    const r = row(e.environment, e.generation);
    r.rendered = true;
    r.modes.push(e.mode);
    r.renderKeys.push(e.key);
    r.commit = e.commit;
    r.useCount += e.useCount;
    r.last = Math.max(r.last, e.lastUsed);
    for (const b of e.roots) r.roots.add(b);
  }
  // generations only realised (no render): their paths' metadata users
  for (const p of inv.paths) for (const u of p.users) {
    const m = /^(.+):(\d+)$/.exec(u);
    if (m) row(m[1]!, Number(m[2])).roots.add(p.basename);
  }
  return [...rows.values()]
    .map(({ roots, last, ...r }) => {
      const closure = closureOf(roots, byName);
      return {
        ...r,
        modes: [...new Set(r.modes)].sort(),
        renderKeys: r.renderKeys.sort(),
        closurePaths: closure.size,
        closureBytes: [...closure].reduce((s, b) => s + (byName.get(b)?.narSize ?? 0), 0),
        ...(last > 0 && { lastUsed: new Date(last).toISOString() }),
      };
    })
    .sort((a, b) => a.environment.localeCompare(b.environment) || b.generation - a.generation);
}

export function formatListing(rows: EnvListing[], now: number): string {
  if (!rows.length) return 'no environments on this node';
  return table(
    ['ENVIRONMENT', 'GEN', 'MODES', 'PATHS', 'SIZE', 'LAST USED'],
    rows.map((r) => [
      r.environment,
      String(r.generation),
      r.modes.join(',') || (r.cached ? '(resolved)' : '(realised)'),
      String(r.closurePaths),
      formatBytes(r.closureBytes),
      r.lastUsed ? formatAge(now - Date.parse(r.lastUsed)) : '-',
    ]),
  );
}
