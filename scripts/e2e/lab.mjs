#!/usr/bin/env node
// A private containerd lab for shell scripts (the demo) — the same lab the e2e tests use
// (test/e2e/support/containerd.ts). Needs root.
//
//   node scripts/e2e/lab.mjs start [--flox-binary /abs/bin/flox-runtime] [--passthrough]
//        [--handler NAME=/abs/binary]... [--env K=V]... [--json]
//     Starts containerd in the background (it outlives this command) and prints the socket
//     path (with --json: {dir, socket, address, pid, handlers, podLogRoot, cgroupRoot}).
//     --env reaches containerd, the shims and every BinaryName (e.g. FLOX_RUNTIME_CONFIG=...).
//     --flox-binary defaults to <repo>/bin/flox-runtime; --passthrough makes it `exec runc "$@"`.
//   node scripts/e2e/lab.mjs run --socket PATH [--handler flox] [--annotation K=V]...
//        [--image REF] [--name NAME] [--mount HOST:CONTAINER[:ro]]... [--env K=V]... -- CMD...
//     Runs one pod with one container to completion like kubelet would, prints its log lines
//     (stdout to stdout, stderr to stderr), removes the pod, exits with the container's code;
//     a CRI error (e.g. the wrapper's StartContainer error) goes to stderr, exit 125.
//   node scripts/e2e/lab.mjs stop [SOCKET|DIR]... | --all
//     Tears labs down (pods, containerd, shims, mounts, cgroups, dir). No argument: the only lab.
//   node scripts/e2e/lab.mjs status        lists labs under /tmp/flox-e2e (FLOX_E2E_LAB_ROOT)
//   node scripts/e2e/lab.mjs reap          tears down labs whose test process died
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { importTs } from './load-ts.mjs';

const lab = await importTs('scripts/e2e/lab-api.ts');

function pairs(list, what) {
  const out = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`${what} wants K=V, got ${JSON.stringify(kv)}`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** A lab dir from a socket path, a `unix://` address or the dir itself. */
function labDir(arg) {
  const p = resolve(arg.replace(/^unix:\/\//, ''));
  return existsSync(p) && statSync(p).isDirectory() ? p : dirname(p);
}

const commands = {
  async start(argv) {
    const { values: v } = parseArgs({
      args: argv,
      options: {
        'flox-binary': { type: 'string' },
        passthrough: { type: 'boolean', default: false },
        handler: { type: 'string', multiple: true },
        env: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
      },
    });
    const handlers = {};
    for (const [name, bin] of Object.entries(pairs(v.handler, '--handler'))) handlers[name] = resolve(bin);
    const floxBinary = v.passthrough ? { script: lab.passThroughScript() } : v['flox-binary'] ? resolve(v['flox-binary']) : undefined;
    const l = await lab.startLab({ ...(floxBinary ? { floxBinary } : {}), handlers, env: pairs(v.env, '--env'), persistent: true });
    l.cri.close();
    const info = {
      dir: l.dir,
      socket: l.socket,
      address: l.address,
      pid: l.pid,
      handlers: l.handlers,
      podLogRoot: `${l.dir}/pods`,
      cgroupRoot: l.cgroupRoot,
      log: l.logFile,
    };
    console.log(v.json ? JSON.stringify(info) : l.socket);
    process.stderr.write(`lab ${l.dir}: containerd pid ${l.pid}, handlers ${Object.keys(l.handlers).join(', ')}\n`);
  },

  async run(argv) {
    const { values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        socket: { type: 'string' },
        handler: { type: 'string', default: 'flox' },
        annotation: { type: 'string', multiple: true },
        image: { type: 'string', default: lab.BUSYBOX_IMAGE },
        name: { type: 'string', default: 'demo' },
        mount: { type: 'string', multiple: true },
        env: { type: 'string', multiple: true },
        timeout: { type: 'string', default: '300' },
      },
    });
    if (!v.socket) throw new Error('run needs --socket (printed by `start`)');
    const mounts = (v.mount ?? []).map((m) => {
      const [hostPath, containerPath, ro] = m.split(':');
      if (!hostPath || !containerPath) throw new Error(`--mount wants HOST:CONTAINER[:ro], got ${m}`);
      return { hostPath: resolve(hostPath), containerPath, readonly: ro === 'ro' };
    });
    const r = await lab.runOnce(labDir(v.socket), {
      handler: v.handler,
      name: v.name,
      annotations: pairs(v.annotation, '--annotation'),
      image: v.image,
      command: positionals,
      env: pairs(v.env, '--env'),
      mounts,
      timeoutMs: Number(v.timeout) * 1000,
    });
    for (const l of r.log) (l.stream === 'stderr' ? process.stderr : process.stdout).write(`${l.line}\n`);
    if (r.error) process.stderr.write(`${r.error}\n`);
    process.exitCode = r.error ? 125 : r.exitCode;
  },

  async stop(argv) {
    const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { all: { type: 'boolean', default: false } } });
    let dirs = positionals.map(labDir);
    if (v.all) dirs = lab.listLabs().map((r) => r.dir);
    else if (!dirs.length) {
      const labs = lab.listLabs();
      if (labs.length !== 1) throw new Error(`${labs.length} labs running; name one (or --all): ${labs.map((r) => r.dir).join(' ')}`);
      dirs = [labs[0].dir];
    }
    let bad = 0;
    for (const d of dirs) {
      const { problems } = await lab.teardownLab(d);
      for (const p of problems) process.stderr.write(`${d}: ${p}\n`);
      bad += problems.length;
      process.stderr.write(`stopped ${d}\n`);
    }
    if (bad) process.exitCode = 1;
  },

  async status() {
    for (const r of lab.listLabs()) {
      console.log(`${r.dir}\tpid=${r.pid}\t${r.persistent ? 'persistent' : `owner=${r.owner}`}\t${r.socket}`);
    }
  },

  async reap() {
    for (const d of await lab.reapStaleLabs()) console.log(`reaped ${d}`);
  },
};

const [cmd, ...rest] = process.argv.slice(2);
const fn = commands[cmd ?? ''];
if (!fn) {
  console.error('usage: node scripts/e2e/lab.mjs start|run|stop|status|reap (see the header of this file)');
  process.exit(2);
}
fn(rest).then(
  () => process.exit(),
  (e) => {
    console.error(`lab ${cmd}: ${e?.message ?? e}`);
    process.exit(1);
  },
);
