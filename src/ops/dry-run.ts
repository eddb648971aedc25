// The plan-only stand-ins for the pipeline's realise and render phases (explain): what the node
// store already has of a closure and where the profile would be rendered. Reads only.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { renderKey, type Mode, type RenderOptions } from '../env/render.js';
import { isValidPath, readPathMeta } from '../nix/node-store.js';
import { parseStorePath, STORE_DIR } from '../nix/store-path.js';

export interface DryClosure {
  /** what the node store knows of the closure (present paths and their references) */
  closure: string[];
  /** paths that would be fetched (their references are unknown without asking a cache) */
  missing: string[];
  fetched: string[];
  present: string[];
  bytesDownloaded: number;
  narBytes: number;
}

export function closureOnNode(stateDir: string, wanted: string[]): DryClosure {
  const seen = new Set<string>();
  const missing: string[] = [];
  let todo = wanted.map((p) => parseStorePath(p).basename);
  while (todo.length) {
    const next: string[] = [];
    for (const b of todo) {
      if (seen.has(b)) continue;
      seen.add(b);
      if (!isValidPath(stateDir, b)) {
        missing.push(`${STORE_DIR}/${b}`);
        continue;
      }
      let refs: string[] = [];
      try {
        refs = readPathMeta(stateDir, `${STORE_DIR}/${b}`)?.references ?? [];
      } catch {
        refs = [];
      }
      next.push(...refs.map((r) => parseStorePath(r).basename));
    }
    todo = next;
  }
  const closure = [...seen].map((b) => `${STORE_DIR}/${b}`).sort();
  return { closure, missing: missing.sort(), fetched: [], present: closure.filter((p) => !missing.includes(p)), bytesDownloaded: 0, narBytes: 0 };
}

export function plannedRender(stateDir: string, resolved: RenderOptions['resolved'], mode: Mode, system: string): { hostDir: string; key: string; created: false; exists: boolean } {
  const key = renderKey(resolved, mode, system);
  const hostDir = join(stateDir, 'envs', key);
  return { hostDir, key, created: false, exists: existsSync(join(hostDir, 'render.json')) };
}
