import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '../..');
export const FRONTEND = join(REPO, 'bin/flox-runtime');
export const DIST = join(REPO, 'dist/flox-runtime.mjs');
