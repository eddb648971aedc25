// The OCI entry: what runs when containerd's shim (through bin/flox-runtime) calls us with
// runc's argv for a `create` or `exec` that may concern a Flox environment. On success it prints
// nothing and exits like the delegate; on failure it reports once (--log JSON line + stderr),
// exits 1 and never calls the delegate.
import { join } from 'node:path';
import type { Activator, ExecRecord } from '../activate/types.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FloxError, isFloxError } from '../errors.js';
import { markWarmRun } from './code-cache-hint.js';
import { createLogger, type Logger } from '../log/logger.js';
import { bundleDir, parseRuncArgv, runcUsageProblem, type RuncInvocation } from '../oci/argv.js';
import { delegateDefinesFlag } from '../oci/usage.js';
import { exitLike, findDelegate, runDelegate } from '../oci/delegate.js';
import { applyExecRecord, execRecordPath, readExecRecord, writeExecRecord } from '../oci/exec-record.js';
import { reportFailure } from '../oci/runclog.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { loadSpecFile, saveSpecFile, serializeSpec } from '../oci/spec.js';
import { decide, describeContainer } from '../pod/request.js';

export interface OciDeps {
  activator?: Activator;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Prepares the call: may rewrite config.json or the exec process file. Returns what to do after. */
async function prepare(
  inv: RuncInvocation,
  config: Config,
  log: Logger,
  deps: OciDeps & { env: NodeJS.ProcessEnv; cwd: string; delegate: string },
): Promise<{ execRecord?: { path: string; record: ExecRecord }; warm?: boolean }> {
  // help, a flag runc does not define, no container id: runc answers (and creates nothing),
  // unless the delegate defines a flag we do not know: then it would create a container we
  // never prepared, so that fails closed
  const problem = runcUsageProblem(inv);
  if (problem === 'unknown-flag' && delegateDefinesFlag(deps.delegate, inv.command, inv.unknownFlag!)) {
    throw new FloxError(
      'usage',
      `${deps.delegate} ${inv.command} accepts --${inv.unknownFlag}, which this flox-runtime does not know; upgrade flox-runtime or drop the flag`,
    );
  }
  if (problem) return {};
  if (inv.command === 'create' || inv.command === 'run') {
    const bundle = bundleDir(inv, deps.cwd);
    const specPath = join(bundle, 'config.json');
    const spec = loadSpecFile(specPath);
    const decision = decide(spec.annotations ?? {});
    if (decision.action === 'skip') {
      log.debug('container left untouched', { reason: decision.reason, container: describeContainer(decision.identity, inv.id) });
      return {};
    }
    const started = performance.now();
    // the FloxHub round trip and the gc lock first, then (overlapping them) the environment
    // machinery, which is loaded only for containers that activate
    const early = deps.activator ? undefined : await (await import('../activate/early-start.js')).startEarly(decision.request, spec, config, inv.id);
    const activator = deps.activator ?? (await import('../activate/index.js')).activate;
    const result = await activator({
      request: decision.request,
      spec,
      bundle,
      ...(inv.id !== undefined && { containerId: inv.id }),
      config,
      log,
      ...early,
    });
    saveSpecFile(specPath, result.spec);
    // bootMs: Node's own start and module loading before we ran (timeOrigin is process start)
    log.info('activated', {
      container: describeContainer(decision.request, inv.id),
      id: inv.id,
      bootMs: Math.round(bootMs),
      ms: Math.round(performance.now() - started),
      ...result.summary,
    });
    // nothing fetched: the start every pod after the first makes
    const warm = result.summary.pathsFetched === 0 && result.summary.hubCache === true;
    if (result.execRecord && inv.id !== undefined) {
      return { execRecord: { path: execRecordPath(inv.globals.root, inv.id), record: result.execRecord }, warm };
    }
    return { warm };
  }
  if (inv.command === 'exec' && inv.id !== undefined && inv.processFile) {
    const record = readExecRecord(execRecordPath(inv.globals.root, inv.id));
    if (!record) return {};
    const processSpec = loadSpecFile(inv.processFile) as { args?: string[]; env?: string[] };
    writeFileAtomic(inv.processFile, serializeSpec(applyExecRecord(processSpec, record)), { mode: 0o600, errorKind: 'spec', durable: false });
    log.debug('exec joins the environment', { id: inv.id, environment: record.environment });
  }
  return {};
}

let bootMs = 0;

export async function runOci(argv: string[], deps: OciDeps = {}): Promise<never> {
  bootMs = performance.now();
  const full = {
    ...deps,
    env: deps.env ?? process.env,
    cwd: deps.cwd ?? process.cwd(),
  };
  let inv: RuncInvocation | undefined;
  let log: Logger | undefined;
  try {
    inv = parseRuncArgv(argv);
    const config = loadConfig(full.env);
    log = createLogger({ file: config.log.file, level: inv.globals.debug ? 'debug' : config.log.level, fields: { pid: process.pid } });
    const delegate = findDelegate(config.runtime.delegate, full.env.PATH);
    const { execRecord, warm } = await prepare(inv, config, log, { ...full, delegate });
    const result = await runDelegate(delegate, argv);
    if (warm && result.code === 0) markWarmRun(); // this run may train the code cache
    if (execRecord && result.code === 0) {
      try {
        writeExecRecord(execRecord.path, execRecord.record);
      } catch (e) {
        // the container runs; only later execs miss the environment
        log.warn('cannot record activation for exec', { error: (e as Error).message });
      }
    }
    return exitLike(result);
  } catch (e) {
    const msg = isFloxError(e) ? e.message : `internal error: ${(e as Error)?.stack ?? String(e)}`;
    log?.error(msg, { argv });
    reportFailure(msg, inv?.globals.log);
    process.exit(1);
  }
}

