// Entry of dist/oci-main.cjs, which bin/flox-runtime runs for the runc commands that need Node
// (a create that asks for an environment, an exec into an activated container). CommonJS, so
// Node's ES module loader never starts (~10 ms); the OCI path itself comes from dist/oci.cjs
// with its V8 code cache. `node dist/flox-runtime.mjs <runc argv>` reaches the same code.
import { dirname, join } from 'node:path';
import { loadWithCodeCache } from './code-cache.js';
import { wasWarmRun } from './code-cache-hint.js';

const here = dirname(process.argv[1] ?? '.');
const { runOci } = loadWithCodeCache<typeof import('./oci.js')>(join(here, 'oci.cjs'), { writeWhen: wasWarmRun });
void runOci(process.argv.slice(2));
