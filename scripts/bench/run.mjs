// `npm run bench`: every benchmark of the project, one after the other, each printing medians
// and ratios against a baseline measured in the same run. BENCH_ONLY=a,b runs a subset.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HERE = new URL('.', import.meta.url).pathname;
const BENCHES = [
  ['passthrough', 'runtime wrapper vs runc (issue 2)'],
  ['nix', 'node store substituter vs real Nix (issue 3)'],
  ['env', 'FloxHub resolve + render, warm and fresh (issue 4)'],
  ['pods', 'pod start over CRI: runc vs flox handler, warm and cold (issue 5)'],
];
const only = process.env.BENCH_ONLY?.split(',');
let failed = 0;
for (const [name, what] of BENCHES) {
  if (only && !only.includes(name)) continue;
  const file = [join(HERE, `${name}.mjs`)].find(existsSync);
  if (!file) {
    console.log(`\n# ${name}: ${what}: not present`);
    continue;
  }
  console.log(`\n# ${name}: ${what}`);
  const r = spawnSync(process.execPath, [file], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`# ${name} failed (status ${r.status})`);
  }
}
process.exit(failed ? 1 : 0);
