import { join } from 'node:path';
import { repoRoot } from '../e2e/support/paths.js';

export const REPO = repoRoot();
export const FRONTEND = join(REPO, 'bin/flox-runtime');
export const DIST = join(REPO, 'dist/flox-runtime.mjs');
