// Entry point of dist/flox-runtime.mjs. bin/flox-runtime sends here only what needs Node: a
// runc `create`/`exec` that may concern a Flox environment, or an operator command (any word
// runc does not know). Each path loads only its own chunk to keep the container start short.
import { existsSync } from 'node:fs';
import { route } from './route.js';

const argv = process.argv.slice(2);
if (route(argv) === 'oci') {
  // dist/oci.cjs with its V8 code cache when built (npm run build), else the ES module
  const cjs = new URL('./oci.cjs', import.meta.url).pathname;
  const { runOci } = existsSync(cjs)
    ? (await import('./code-cache.js')).loadWithCodeCache<typeof import('./oci.js')>(cjs, { writeWhen: (await import('./code-cache-hint.js')).wasWarmRun })
    : await import('./oci.js');
  await runOci(argv);
} else {
  const { runOperator } = await import('./operator.js');
  await runOperator(argv);
}
