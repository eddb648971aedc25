// The FloxHub cache keeps the files of every floxmeta commit it fetched (src/floxhub/cache.ts):
// one per `flox push`, and a pin pointer for every generation it resolved. gc drops the pins of
// generations it no longer keeps (so an old pinned generation needs the network again), then
// the commits no pointer names (the branch head, the remaining pins). Both only once older than
// the grace period: a resolve that just stored a commit and not yet its pointer keeps it.
import { readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

function dirs(p: string): string[] {
  try {
    return readdirSync(p, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function pointedCommits(envDir: string): Set<string> {
  const files = [join(envDir, 'head.json')];
  try {
    for (const f of readdirSync(join(envDir, 'pins'))) if (f.endsWith('.json')) files.push(join(envDir, 'pins', f));
  } catch {
    // no pins
  }
  const commits = new Set<string>();
  for (const f of files) {
    try {
      const c = (JSON.parse(readFileSync(f, 'utf8')) as { commit?: unknown }).commit;
      if (typeof c === 'string') commits.add(c);
    } catch {
      // missing or torn pointer: it names nothing
    }
  }
  return commits;
}

const olderThanLimit = (p: string, olderThan: number): boolean => {
  try {
    return statSync(p).mtimeMs < olderThan;
  } catch {
    return false;
  }
};

/** Drops pins of generations not in `keep` ("owner/name:N"), older than `olderThan`. */
function prunePins(envDir: string, environment: string, keep: ReadonlySet<string>, olderThan: number): void {
  let names: string[];
  try {
    names = readdirSync(join(envDir, 'pins'));
  } catch {
    return;
  }
  for (const f of names) {
    const m = /^(\d+)\.json$/.exec(f);
    if (!m || keep.has(`${environment}:${m[1]}`)) continue;
    const p = join(envDir, 'pins', f);
    if (!olderThanLimit(p, olderThan)) continue;
    try {
      unlinkSync(p);
    } catch {
      // gone already
    }
  }
}

/**
 * Removes pins of generations not kept and the commit dirs no pointer names any more, both
 * older than `olderThan` (epoch ms); returns how many commits went.
 */
export function pruneHubCache(stateDir: string, olderThan: number, keep: ReadonlySet<string> = new Set()): number {
  let removed = 0;
  const root = join(stateDir, 'floxhub');
  for (const hub of dirs(root)) {
    for (const owner of dirs(join(root, hub))) {
      for (const name of dirs(join(root, hub, owner))) {
        const envDir = join(root, hub, owner, name);
        prunePins(envDir, `${owner}/${name}`, keep, olderThan);
        const pointed = pointedCommits(envDir);
        for (const c of dirs(join(envDir, 'commits'))) {
          const p = join(envDir, 'commits', c);
          if (pointed.has(c) || !olderThanLimit(p, olderThan)) continue;
          rmSync(p, { recursive: true, force: true });
          removed++;
        }
      }
    }
  }
  return removed;
}
