// A separate process that realises a closure: used by the concurrency and kill -9 tests and by
// the benchmark. Input: one JSON argument {paths, opts}. Output: one JSON line per event, then
// {"result":…} or {"error":{kind,message}}.
import { realiseClosure } from '../../src/nix/index.js';

// after Node's start-up and the loading of this bundle: what is left is realisation itself
const started = performance.now();

const arg = JSON.parse(process.argv[2] ?? '{}') as { paths: string[]; opts: Parameters<typeof realiseClosure>[1]; quiet?: boolean };
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
try {
  const result = await realiseClosure(arg.paths, { ...arg.opts, ...(arg.quiet ? {} : { onEvent: (e) => out({ t: Math.round(performance.now()), event: e }) }) });
  out({ t: Math.round(performance.now()), realiseMs: performance.now() - started, result, maxRSS: process.resourceUsage().maxRSS });
} catch (e) {
  const err = e as { kind?: string; message?: string };
  out({ error: { kind: err.kind ?? 'unknown', message: err.message ?? String(e) } });
  process.exitCode = 1;
}
