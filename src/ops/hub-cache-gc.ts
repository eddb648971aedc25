// The FloxHub cache keeps the files of every floxmeta commit it fetched (src/floxhub/cache.ts):
// one per `flox push`. Only the commits a pointer names (the last seen branch head, pinned
// generations) can be read again; gc removes the rest once they are older than the grace
// period, so a resolve that just stored a commit and has not yet written its pointer keeps it.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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

/** Removes unreferenced commit dirs older than `olderThan` (epoch ms); returns how many. */
export function pruneHubCache(stateDir: string, olderThan: number): number {
  let removed = 0;
  const root = join(stateDir, 'floxhub');
  for (const hub of dirs(root)) {
    for (const owner of dirs(join(root, hub))) {
      for (const name of dirs(join(root, hub, owner))) {
        const envDir = join(root, hub, owner, name);
        const keep = pointedCommits(envDir);
        for (const c of dirs(join(envDir, 'commits'))) {
          if (keep.has(c)) continue;
          const p = join(envDir, 'commits', c);
          try {
            if (statSync(p).mtimeMs >= olderThan) continue;
          } catch {
            continue;
          }
          rmSync(p, { recursive: true, force: true });
          removed++;
        }
      }
    }
  }
  return removed;
}
