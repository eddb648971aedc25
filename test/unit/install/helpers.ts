import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

let cachedDefault: string | null = null;
/** Debian's `containerd config default` (1.6, version 2), generated at test time. */
export function containerdDefault(): string {
  cachedDefault ??= execFileSync('containerd', ['config', 'default'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return cachedDefault;
}
