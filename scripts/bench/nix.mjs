#!/usr/bin/env node
// Node-store substitution benchmark: realise the fixture closure (every role of
// scripts/fixtures/make-nix-cache.sh) cold into an empty store, with our substituter (a fresh
// node process running realiseClosure, one CommonJS bundle with a V8 code cache like the runtime's
// OCI path) vs real Nix
// (`nix copy --from http://127.0.0.1:… --to <empty local store>` with the same trusted key), both
// from the same HTTP cache, interleaved. Prints medians, the ratio and peak RSS of each.
// Two ratios: ours as a standalone program (a whole new process against the whole nix copy), and
// ours as the runtime pays it: the runtime realises inside a create it runs anyway, so what the
// substituter costs a pod is our process minus the same process without the realise (load-only
// runs, interleaved with the others), against the whole nix copy that host Nix would run.
//
//   node scripts/bench/nix.mjs [-n 7] [--compressions xz,zstd] [--nice N] [--json]
// --nice N runs both clients under `nice -n N` (root can pass a negative N to shield the
// comparison from other work on a shared machine; both sides get the same priority).
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { cjsBundle } from '../esbuild-cjs.mjs';
import { interleave, median, percentile, report } from './lib.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function benchNix({ rounds = 7, compressions = ['xz', 'zstd'], fixtureDir = join(repo, '.cache/nix-fixture'), nice } = {}) {
  const made = spawnSync('bash', [join(repo, 'scripts/fixtures/make-nix-cache.sh'), fixtureDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (made.status !== 0) throw new Error('make-nix-cache.sh failed (needs nix-bin and busybox-static: scripts/install-deps.sh)');
  const fx = JSON.parse(readFileSync(join(fixtureDir, 'paths.json'), 'utf8'));
  const roots = Object.values(fx.packages).flatMap((o) => Object.values(o));
  const closure = [...new Set(Object.values(fx.closures).flat())];

  const work = mkdtempSync(join(tmpdir(), 'flox-bench-nix-'));
  // Our side runs as the runtime does on a node: one CommonJS bundle loaded through the same
  // V8 code-cache loader as dist/oci-main.cjs (the warm-up run writes the cache).
  const childBundle = join(work, 'nix-child.cjs');
  const child = join(work, 'nix-child-main.cjs');
  await build({
    ...cjsBundle,
    stdin: { contents: NIX_CHILD_CJS, resolveDir: repo, loader: 'ts', sourcefile: 'nix-child-cjs.ts' },
    outfile: childBundle,
  });
  await build({
    ...cjsBundle,
    stdin: { contents: `const { loadWithCodeCache } = require('./src/cli/code-cache.ts'); loadWithCodeCache(require('node:path').join(__dirname, 'nix-child.cjs'));`, resolveDir: repo, loader: 'ts', sourcefile: 'nix-child-main.ts' },
    outfile: child,
  });

  // one static server for both clients (GET and HEAD, as Nix needs)
  const server = createServer((req, res) => {
    const file = normalize(join(fixtureDir, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    let size;
    try {
      if (!file.startsWith(`${fixtureDir}/`)) throw new Error('outside');
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'content-length': size });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;

  const run = (file, args, env) =>
    new Promise((resolveRun, reject) => {
      if (nice !== undefined) [file, args] = ['nice', ['-n', String(nice), file, ...args]];
      const t = process.hrtime.bigint();
      const p = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => {
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (code !== 0) reject(new Error(`${file} ${args.slice(0, 3).join(' ')} failed (${code}): ${(out + err).slice(-800)}`));
        else resolveRun({ ms, out, err });
      });
    });

  // Stores are deleted after all rounds, not between them: on ext4 the inodes of a tree just
  // deleted make the next tree's inode allocation slower, by an amount that varies from run to
  // run and that only adds noise to both sides.
  const done = [];
  // GNU time reports nix's peak RSS (Debian package "time"); without it that one number is n/a
  const hasTime = existsSync('/usr/bin/time');
  const rss = {};
  const inside = {};
  const startup = {};
  const teardown = {};
  const results = {};
  let n = 0;
  try {
    // The first run writes the V8 code cache, with every function that it compiled: a realise,
    // not a load-only run, so that each later run starts from the same cache as on a node
    {
      const stateDir = join(work, `warm-${n++}`);
      await run(process.execPath, [child, JSON.stringify({ paths: roots, opts: { stateDir, substituters: [`${base}/cache-${compressions[0]}`], trustedPublicKeys: [fx.publicKey] }, quiet: true })]);
      done.push(stateDir);
    }
    // What each side pays before and after its work: a process that starts and exits at once
    const floor = await interleave(
      {
        'node -e 0': async () => (await run(process.execPath, ['-e', '0'])).ms,
        'nix --version': async () => (await run('nix', ['--version'])).ms,
      },
      rounds,
    );
    report('Process start-up + exit alone (the part of the ratio no substituter can change)', floor, 'nix --version');
    for (const c of compressions) {
      const cache = `${base}/cache-${c}`;
      rss[c] = { ours: [], nix: [] };
      inside[c] = [];
      startup[c] = [];
      teardown[c] = [];
      const samples = await interleave(
        {
          [`ours (${c})`]: async () => {
            const stateDir = join(work, `ours-${n++}`);
            const arg = JSON.stringify({ paths: roots, opts: { stateDir, substituters: [cache], trustedPublicKeys: [fx.publicKey] }, quiet: true });
            const { ms, out } = await run(process.execPath, [child, arg]);
            const last = JSON.parse(out.trim().split('\n').at(-1));
            if (!last.result || last.result.closure.length !== closure.length) throw new Error(`ours: unexpected result ${out.slice(0, 300)}`);
            rss[c].ours.push(last.maxRSS);
            inside[c].push(last.realiseMs);
            // process start to our code running; the parent spawning it plus its exit after the result
            startup[c].push(last.started);
            teardown[c].push(ms - last.t);
            if (process.env.BENCH_DEBUG) console.log(`    ours wall ${ms.toFixed(0)} ms, inside the process ${last.t} ms`);
            done.push(stateDir);
            return ms;
          },
          // the same process without the realise: what the runtime pays in any case (start-up,
          // loading the bundle, exit), so that ours minus this is what realising adds to a create
          [`ours, load only (${c})`]: async () => {
            const { ms, out } = await run(process.execPath, [child, JSON.stringify({ loadOnly: true })]);
            if (!JSON.parse(out.trim()).loadOnly) throw new Error(`ours, load only: unexpected output ${out.slice(0, 300)}`);
            return ms;
          },
          [`nix copy (${c})`]: async () => {
            const store = join(work, `nix-${n++}`);
            const args = [
              ...(hasTime ? ['-f', '%M'] : []), 'nix', 'copy', '--from', cache, '--to', store,
              '--option', 'trusted-public-keys', fx.publicKey,
              '--option', 'narinfo-cache-negative-ttl', '0', '--option', 'narinfo-cache-positive-ttl', '0',
              '--extra-experimental-features', 'nix-command', ...roots,
            ];
            const { ms, err } = await run(hasTime ? '/usr/bin/time' : args.shift(), args, { NIX_REMOTE: 'local', NIX_CONFIG: 'substituters =' });
            if (hasTime) rss[c].nix.push(Number(err.trim().split('\n').at(-1)));
            done.push(store);
            return ms;
          },
        },
        rounds,
      );
      const loadOnly = samples[`ours, load only (${c})`];
      delete samples[`ours, load only (${c})`];
      const r = report(`Realise the fixture closure cold (${closure.length} paths, ${c}) — ours vs nix copy`, samples, `nix copy (${c})`);
      console.log(`  (ours = a new node process that loads the bundle, realises and exits, as a standalone program)`);
      // The runtime realises inside the create (or env pull) process it runs anyway; host Nix
      // would be a process of its own. What realising adds to ours, measured from outside and
      // from inside, against the whole nix copy:
      const nixMedian = r[`nix copy (${c})`].median;
      const marginal = r[`ours (${c})`].median - median(loadOnly);
      const inProcess = median(inside[c].slice(-rounds));
      console.log(`  as the runtime pays it: ours minus the same process without the realise ${marginal.toFixed(1)} ms, ratio ${(marginal / nixMedian).toFixed(3)}x;`);
      console.log(`    timed inside the process ${inProcess.toFixed(1)} ms, ratio ${(inProcess / nixMedian).toFixed(3)}x (load only: median ${median(loadOnly).toFixed(1)} ms, p90 ${percentile(loadOnly, 90).toFixed(1)} ms)`);
      console.log(`  ours, the rest (median): Node start-up + loading the bundle ${median(startup[c]).toFixed(1)} ms, spawn + exit as the parent sees them ${median(teardown[c]).toFixed(1)} ms`);
      const oursRss = Math.max(...rss[c].ours);
      const nixRss = rss[c].nix.length ? Math.max(...rss[c].nix) : NaN;
      const narBytes = closure.reduce((s, p) => s + Number(/^NarSize: (\d+)$/m.exec(readFileSync(join(fx.caches[c], `${p.slice(11, 43)}.narinfo`), 'utf8'))[1]), 0);
      console.log(`  peak RSS: ours ${(oursRss / 1024).toFixed(1)} MiB (median ${(median(rss[c].ours) / 1024).toFixed(1)}), nix copy ${(nixRss / 1024).toFixed(1)} MiB; closure NAR bytes ${(narBytes / 1048576).toFixed(2)} MiB`);
      results[c] = { ours: r[`ours (${c})`], nix: r[`nix copy (${c})`], ratio: r[`ours (${c})`].ratio, asTheRuntimePays: { marginalMs: marginal, ratio: marginal / nixMedian, inProcessMs: inProcess, inProcessRatio: inProcess / nixMedian }, peakRssKiB: { ours: oursRss, nix: nixRss } };
      for (const d of done.splice(0)) rmSync(d, { recursive: true, force: true });
    }
  } finally {
    server.close();
    server.closeAllConnections();
    rmSync(work, { recursive: true, force: true });
  }
  return results;
}

// test/support/nix-child.ts without top-level await, for a CommonJS bundle: one JSON argument
// {paths, opts, quiet}; prints {"result": ...} or {"error": ...} with realiseMs and maxRSS.
const NIX_CHILD_CJS = `
import { realiseClosure } from './src/nix/index.ts';
// process.uptime(), not performance.now(): the first use of the \`performance\` global loads
// perf_hooks (~2 ms), which the substituter itself never does
const now = () => process.uptime() * 1000;
const started = now();
const arg = JSON.parse(process.argv[2] ?? '{}');
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\\n');
// Ends as the runtime's create does (src/oci/delegate.ts exitLike): process.exit once the work is
// done. stdout is a pipe, written synchronously on Linux, so the result is out before the exit.
if (arg.loadOnly) {
  out({ started, t: now(), loadOnly: true });
  process.exit(0);
}
realiseClosure(arg.paths, { ...arg.opts, ...(arg.quiet ? {} : { onEvent: (e: unknown) => out({ t: Math.round(now()), event: e }) }) }).then(
  (result) => {
    out({ started, t: now(), realiseMs: now() - started, result, maxRSS: process.resourceUsage().maxRSS });
    process.exit(0);
  },
  (e) => {
    out({ error: { kind: e?.kind ?? 'unknown', message: e?.message ?? String(e) } });
    process.exit(1);
  },
);
`;

// As bin/flox-runtime does: Node would load NODE_EXTRA_CA_CERTS at start-up
function childEnv(extra) {
  const env = { ...process.env, ...extra };
  if (env.NODE_EXTRA_CA_CERTS) {
    env.FLOX_RUNTIME_EXTRA_CA_CERTS = env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_EXTRA_CA_CERTS;
  }
  return env;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { n: { type: 'string', short: 'n', default: '7' }, compressions: { type: 'string', default: 'xz,zstd' }, nice: { type: 'string' }, json: { type: 'boolean' } } });
  const r = await benchNix({ rounds: Number(values.n), compressions: values.compressions.split(','), ...(values.nice !== undefined ? { nice: Number(values.nice) } : {}) });
  if (values.json) console.log(JSON.stringify(r));
}
