// What an install did, kept beside the artifacts so uninstall can undo exactly that: which files
// it created (removed again) versus edited (block stripped), and the seed text of config files
// it created from defaults. Uninstall also works without it, from the markers alone.
import { z } from 'zod';
import { join } from 'node:path';
import { hostPath, readIfExists } from './fsio.js';

export const JOURNAL_REL = 'install-state.json';

export const Journal = z.object({
  version: z.literal(1),
  runtime: z.enum(['containerd', 'k3s', 'rke2', 'crio']),
  unit: z.string().nullable(),
  installRoot: z.string(),
  /** Paths (as the host sees them) the installer created, in creation order. */
  created: z.array(z.string()),
  /** Directories the installer created, deepest last. */
  createdDirs: z.array(z.string()),
  /** Config files created from `containerd config default`: host path -> seed text. */
  seeds: z.record(z.string()),
  socket: z.string().nullable(),
  /** containerd's main config when not the default (uninstall finds it without the flag). */
  containerdConfig: z.string().optional(),
  labelled: z.boolean(),
});
export type Journal = z.infer<typeof Journal>;

export function journalPath(hostRoot: string, installRoot: string): string {
  return hostPath(hostRoot, join(installRoot, JOURNAL_REL));
}

export function readJournal(hostRoot: string, installRoot: string): Journal | null {
  const raw = readIfExists(journalPath(hostRoot, installRoot));
  if (!raw) return null;
  try {
    const r = Journal.safeParse(JSON.parse(raw.toString('utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
