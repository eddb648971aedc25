// A small usage record per rendered environment, rewritten at every activation and `env pull`:
// when it was last used and which store paths it needed. `env ls` shows it; `gc` orders by it
// and protects what was used within its grace period (a container that is being created has
// no runc state yet). Written atomically; a failure never fails an activation. Records name
// environments and commits and only the runtime reads them: the dir is 0700, records 0600.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const usageDir = (stateDir: string): string => join(stateDir, 'usage');

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;

export const UsageRecordSchema = z.object({
  version: z.literal(1),
  key: z.string().regex(KEY),
  environment: z.string(),
  generation: z.number().int(),
  commit: z.string(),
  mode: z.enum(['run', 'dev']),
  system: z.string(),
  lastUsed: z.string(),
  count: z.number().int().nonnegative(),
  /** full /nix/store paths the activation realised (the closure, plus a provided shell) */
  closure: z.array(z.string()),
});
export type UsageRecord = z.infer<typeof UsageRecordSchema>;

export function readUsage(stateDir: string, key: string): UsageRecord | undefined {
  if (!KEY.test(key)) return undefined;
  try {
    const r = UsageRecordSchema.safeParse(JSON.parse(readFileSync(join(usageDir(stateDir), `${key}.json`), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function listUsage(stateDir: string): UsageRecord[] {
  let names: string[];
  try {
    names = readdirSync(usageDir(stateDir));
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).flatMap((n) => readUsage(stateDir, n.slice(0, -5)) ?? []);
}

export function removeUsage(stateDir: string, key: string): void {
  if (KEY.test(key)) rmSync(join(usageDir(stateDir), `${key}.json`), { force: true });
}

export interface UsageInput {
  resolved: { description: string; generation: number; commit: string };
  mode: 'run' | 'dev';
  system: string;
  key: string;
  closure: string[];
}

/** Never throws: usage is bookkeeping, not part of starting a container. */
export function recordUsage(stateDir: string, u: UsageInput, now: Date = new Date()): void {
  let tmp: string | undefined;
  try {
    if (!KEY.test(u.key)) return;
    const prev = readUsage(stateDir, u.key);
    const rec: UsageRecord = {
      version: 1,
      key: u.key,
      environment: u.resolved.description,
      generation: u.resolved.generation,
      commit: u.resolved.commit,
      mode: u.mode,
      system: u.system,
      lastUsed: now.toISOString(),
      count: (prev?.count ?? 0) + 1,
      closure: u.closure,
    };
    const dir = usageDir(stateDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if ((statSync(dir).mode & 0o7777) !== 0o700) chmodSync(dir, 0o700); // made 0755 by older versions
    const file = join(dir, `${u.key}.json`);
    tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // bookkeeping only; no temp file left behind
    try {
      if (tmp) rmSync(tmp, { force: true });
    } catch {
      // nothing more to do
    }
  }
}
