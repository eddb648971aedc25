// Where a container's activation is recorded for later `exec` calls: inside runc's own state
// directory for that id (`<root>/<id>/`), which `runc delete` removes with the container. The
// sh front end tests for this file to decide, without Node, whether an exec needs rewriting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { FloxError } from '../errors.js';
import type { ExecRecord } from '../activate/types.js';
import { DEFAULT_RUNC_ROOT, isValidContainerId } from './argv.js';
import { writeFileAtomic } from '../fs/atomic.js';

export const EXEC_RECORD_FILE = 'flox-exec.json';

const ExecRecordSchema = z.object({
  version: z.literal(1),
  environment: z.string(),
  generation: z.number().int(),
  env: z.array(z.string().regex(/^[^=\0]+=[^\0]*$/)),
  wrapArgs: z.array(z.string()),
});

export function execRecordPath(root: string | undefined, id: string): string {
  if (!isValidContainerId(id)) throw new FloxError('usage', `invalid container id ${JSON.stringify(id)}`);
  return join(root ?? DEFAULT_RUNC_ROOT, id, EXEC_RECORD_FILE);
}

export function writeExecRecord(path: string, record: ExecRecord): void {
  writeFileAtomic(path, `${JSON.stringify(record)}\n`, { mode: 0o600, errorKind: 'spec', durable: false });
}

export function readExecRecord(path: string): ExecRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FloxError('spec', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
  const parsed = ExecRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new FloxError('spec', `${path} is malformed; delete the container and start it again`);
  return parsed.data;
}

/** The exec'd process joins the environment: its env gains the activation's, its args the wrapper. */
export function applyExecRecord<P extends { args?: string[]; env?: string[] }>(process: P, record: ExecRecord): P {
  const names = new Set(record.env.map((e) => e.slice(0, e.indexOf('='))));
  const kept = (process.env ?? []).filter((e) => !names.has(e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('='))));
  return {
    ...process,
    env: [...kept, ...record.env],
    args: [...record.wrapArgs, ...(process.args ?? [])],
  };
}
