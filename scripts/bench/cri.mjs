#!/usr/bin/env node
// Pod-start benchmark over CRI: runc vs other runtime handlers, in one private containerd.
// The logic is in cri.ts (bundled on the fly); this file is the CLI and the import point for
// the main bench runner:
//
//   import { benchPodStart, formatPodStart } from './cri.mjs';
//   const r = await benchPodStart({ handlers: { flox: '/abs/bin/flox-runtime' },
//     env: { FLOX_RUNTIME_CONFIG: cfg }, iterations: 10,
//     workloads: { flox: { image: 'docker.io/flox/empty:1.0.0', command: ['hello'],
//                          annotations: { 'flox.dev/environment': 'owner/env' } } } });
//   console.log(await formatPodStart(r));
//
// CLI (root):
//   node scripts/bench/cri.mjs [-n 10] [--warmup 1] [--passthrough] [--handler NAME=/abs/binary]...
//        [--env K=V]... [--annotation K=V]... [--image REF] [--socket PATH --handler NAME]...
//        [--json] [-- command...]
//   Without --handler, measures --passthrough (a `#!/bin/sh exec runc "$@"` BinaryName).
//   --socket uses a running containerd (e.g. from scripts/e2e/lab.mjs) with its own handlers.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { importTs } from '../e2e/load-ts.mjs';

let mod;
/** The cri.ts module (measurePodStart, benchPodStart, benchPodStartOnSocket, formatPodStart, ...). */
export function loadCriBench() {
  mod ??= importTs('scripts/bench/cri.ts');
  return mod;
}
export const benchPodStart = async (o) => (await loadCriBench()).benchPodStart(o);
export const benchPodStartOnSocket = async (socket, o) => (await loadCriBench()).benchPodStartOnSocket(socket, o);
export const measurePodStart = async (o) => (await loadCriBench()).measurePodStart(o);
export const formatPodStart = async (r) => (await loadCriBench()).formatPodStart(r);

function pairs(list, what) {
  const out = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`${what} wants K=V, got ${JSON.stringify(kv)}`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

async function main(argv) {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      n: { type: 'string', short: 'n', default: '10' },
      warmup: { type: 'string', default: '1' },
      handler: { type: 'string', multiple: true },
      passthrough: { type: 'boolean', default: false },
      env: { type: 'string', multiple: true },
      annotation: { type: 'string', multiple: true },
      image: { type: 'string' },
      socket: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    console.log('usage: see the header of scripts/bench/cri.mjs');
    return;
  }
  const m = await loadCriBench();
  const iterations = Number(v.n);
  const warmup = Number(v.warmup);
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`-n wants a positive integer, got ${v.n}`);
  const workload = {
    ...m.DEFAULT_WORKLOAD,
    ...(v.image ? { image: v.image } : {}),
    ...(positionals.length ? { command: positionals } : {}),
    annotations: pairs(v.annotation, '--annotation'),
  };
  const progress = (s) => process.stderr.write(`${s.handler} #${s.iteration}: ${s.firstLineMs.toFixed(1)} ms\n`);
  let result;
  if (v.socket) {
    const handlers = (v.handler ?? []).map((h) => h.split('=')[0]);
    result = await m.benchPodStartOnSocket(v.socket, { handlers, iterations, warmup, workload, onSample: progress });
  } else {
    const handlers = {};
    for (const h of v.handler ?? []) {
      const i = h.indexOf('=');
      if (i <= 0) throw new Error(`--handler wants NAME=/abs/binary without --socket, got ${JSON.stringify(h)}`);
      handlers[h.slice(0, i)] = h.slice(i + 1);
    }
    if (v.passthrough || !Object.keys(handlers).length) {
      const { passThroughScript } = await importTs('test/e2e/support/runtimes.ts');
      handlers.passthrough = { script: passThroughScript() };
    }
    result = await m.benchPodStart({ handlers, env: pairs(v.env, '--env'), iterations, warmup, workload, onSample: progress });
  }
  console.log(v.json ? JSON.stringify(result, null, 2) : m.formatPodStart(result));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e) => {
      console.error(`cri bench: ${e?.stack ?? e}`);
      process.exit(1);
    },
  );
}
