// The activation of one container: FloxHub generation -> closure realised on the node ->
// rendered profile -> activation plan -> spec modifications. All I/O happens here, in order;
// the decisions about the spec are made by the pure modifiers in src/inject.
import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { FloxError } from '../errors.js';
import { ENV_MOUNT, planActivation, renderEnvironment, selectPackages, storePathsOf, CACHE_MOUNT, STATE_DIR } from '../env/index.js';
import { cachedLiveGeneration, pickToken, podTokenFileFromMounts, resolveEnvironment, type ResolvedEnvironment } from '../floxhub/index.js';
import { applyModifiers, modifiersFor, NIX_STORE } from '../inject/modifiers.js';
import type { InjectionPlan } from '../inject/types.js';
import { nodeStoreDir, realiseClosure, realiseWithHostNix, type RealiseResult } from '../nix/index.js';
import { formatEnvironmentRef } from '../pod/environment-ref.js';
import { describeContainer } from '../pod/request.js';
import { resolveInView, type View } from './container-paths.js';
import { closureOnNode, plannedRender } from '../ops/dry-run.js';
import { holdGcShared, type PendingLock } from '../ops/gc-lock.js';
import { resolveFromCache } from '../ops/offline-resolve.js';
import { recordUsage } from '../ops/usage.js';
import { enforcePolicy, nodeTokenFile, ruleField, substitutersFor, type Allowed } from '../policy/index.js';
import type { ActivationInput, ActivationResult, Activator, ExecRecord } from './types.js';

const PROVIDED_TOOLS = ['/bin/sh', '/usr/bin/env'] as const;

function phaseTimer() {
  const phases: Record<string, number> = {};
  let last = performance.now();
  return {
    phases,
    mark(name: string) {
      const now = performance.now();
      phases[name] = Math.round(now - last);
      last = now;
    },
  };
}

/** Adds context to an error without losing its kind: which container, which environment. */
function inContext(e: unknown, where: string): never {
  if (e instanceof FloxError) throw new FloxError(e.kind, `${e.message} (${where})`, { cause: e });
  throw new FloxError('internal', `${(e as Error)?.message ?? String(e)} (${where})`, { cause: e });
}

export const activateContainer: Activator = async (input: ActivationInput): Promise<ActivationResult> => {
  const { request, bundle, log } = input;
  const envRef = formatEnvironmentRef(request.environment);
  const container = describeContainer(request, input.containerId);
  let allowed: Allowed;
  try {
    // again here (the OCI path checked before its head check): explain and every other caller
    allowed = enforcePolicy(request, input.config, input.containerId);
  } catch (e) {
    input.gcLock?.release();
    throw e;
  }
  try {
    if (!input.dryRun) ensureWritableStateDir(input.config.runtime.stateDir);
    // dry runs change nothing, so they need not keep gc out
    if (input.dryRun) {
      input.gcLock?.release();
      return await activate(input, envRef, allowed);
    }
    const gc = input.gcLock ?? holdGcShared(input.config); // taken while FloxHub is asked; realise waits for it
    try {
      return await activate(input, envRef, allowed, gc);
    } finally {
      gc.release();
    }
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    log.error('activation failed', { environment: envRef, container, error: msg, bundle });
    return inContext(e, msg.includes(envRef) ? container : `${container}, environment ${envRef}`);
  }
};

/** realiseClosure bounded by nix.deadline-ms as a whole (each request has nix.timeout-ms). */
async function realiseInTime(wanted: string[], config: ActivationInput['config'], substituters: string[], stateDir: string, user: string, envRef: string, cancel?: AbortSignal): Promise<RealiseResult> {
  const deadline = AbortSignal.timeout(config.nix.deadlineMs);
  try {
    return await realiseClosure(wanted, {
      stateDir,
      substituters,
      trustedPublicKeys: config.nix.trustedPublicKeys,
      maxParallel: config.nix.maxParallelDownloads,
      timeoutMs: config.nix.timeoutMs,
      user,
      signal: cancel ? AbortSignal.any([deadline, cancel]) : deadline,
    });
  } catch (e) {
    if (!deadline.aborted) throw e;
    throw new FloxError(
      'nix-fetch',
      `fetching the store paths of ${envRef} took longer than nix.deadline-ms (${config.nix.deadlineMs} ms) from ${substituters.join(', ')}; paths completed so far are kept, so the next start continues; check the substituters or raise nix.deadline-ms`,
      { cause: e },
    );
  }
}

/** A private environment refused because the policy withheld the node token says so. */
function withheldTokenHint(e: unknown, config: ActivationInput['config'], allowed: Allowed, source: string): unknown {
  const refused = e instanceof FloxError && (e.kind === 'floxhub-auth' || e.kind === 'floxhub-not-found');
  if (!refused || source !== 'none' || allowed.nodeToken || !config.floxhub.tokenFile) return e;
  return new FloxError(e.kind, `${e.message}; the policy rule ${ruleField(allowed)} does not let this namespace use the node token (floxhub.token-file): give the pod its own floxhub-token secret`, { cause: e });
}

/** Fails early, with the path and what to do, when the state dir cannot be written at all. */
function ensureWritableStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    accessSync(stateDir, fsConstants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const why = code === 'EROFS' ? 'read-only file system' : code;
    throw new FloxError('store', `cannot write the node state dir ${stateDir} (${why}); runtime.state-dir must be a writable local directory`);
  }
}

async function activate(input: ActivationInput, envRef: string, allowed: Allowed, gc?: PendingLock): Promise<ActivationResult> {
  const { request, spec, bundle, config, log, dryRun } = input;
  const t = phaseTimer();
  const stateDir = config.runtime.stateDir;

  const token = pickToken({ podTokenFile: podTokenFileFromMounts(spec.mounts), configTokenFile: nodeTokenFile(config, allowed) });
  // the policy may leave this namespace only some of the substituters
  const substituters = substitutersFor(config, allowed);
  const hubOpts = { gitUrl: config.floxhub.gitUrl, stateDir, ...(token.token !== undefined && { token: token.token }) };

  // What the image lacks (flox/empty has nothing) and may need: a shell and env.
  const rootfs = posix.resolve(bundle, spec.root?.path ?? 'rootfs');
  const missingTools = PROVIDED_TOOLS.filter((p) => resolveInView([{ containerPrefix: '/', hostDir: rootfs }], p) === undefined);
  const shellStorePath = missingTools.length > 0 && config.runtime.shellStorePath ? config.runtime.shellStorePath : undefined;
  const hostNix = config.runtime.storeMode === 'nix';
  const storeHostDir = hostNix ? NIX_STORE : nodeStoreDir(stateDir);

  /** The closure of a generation on the node, and its rendered profile. */
  const realiseAndRender = async (resolved: ResolvedEnvironment, cancel?: AbortSignal) => {
    const t0 = performance.now();
    const selected = selectPackages(resolved, config.runtime.system);
    const wanted = [...storePathsOf(selected), ...(shellStorePath ? [shellStorePath] : [])];
    const user = `${request.environment.owner}/${request.environment.name}:${resolved.generation}`;
    await gc?.ready();
    const dryClosure = dryRun && !hostNix ? closureOnNode(stateDir, wanted) : undefined;
    const realised: RealiseResult = dryRun
      ? (dryClosure ?? { closure: [...wanted].sort(), fetched: [], present: [], bytesDownloaded: 0, narBytes: 0 })
      : hostNix
      ? await realiseWithHostNix(wanted, { substituters, trustedPublicKeys: config.nix.trustedPublicKeys, timeoutMs: config.nix.timeoutMs })
      : await realiseInTime(wanted, config, substituters, stateDir, user, envRef, cancel);
    const t1 = performance.now();
    const dryRender = dryRun ? plannedRender(stateDir, resolved, request.mode, config.runtime.system) : undefined;
    const rendered = dryRender ?? (await renderEnvironment({ resolved, mode: request.mode, system: config.runtime.system, stateDir, storeDir: storeHostDir, log }));
    return { realised, rendered, dryClosure, dryRender, ms: { realise: Math.round(t1 - t0), render: Math.round(performance.now() - t1) } };
  };

  // While the hub is asked for the branch head (sent early by the OCI path), the generation
  // the node saw last is realised and rendered: when the head has not moved, as on nearly every
  // start, that work is done by the time the answer comes. The hub's answer decides what runs.
  const guess = input.headCheck && !dryRun ? await cachedLiveGeneration(request.environment, hubOpts) : undefined;
  const wrongGuess = new AbortController();
  const early = guess && realiseAndRender(guess, wrongGuess.signal);
  early?.catch(() => {}); // its failure matters only if the guess is confirmed (awaited below)
  // a wrong guess is stopped (it may be fetching paths the node lost) and let settle
  const dropGuess = async () => {
    wrongGuess.abort(new Error('superseded by the hub\'s answer'));
    await early?.catch(() => {});
  };
  let resolved: ResolvedEnvironment;
  try {
    resolved = dryRun?.offline
      ? await resolveFromCache(request.environment, { gitUrl: config.floxhub.gitUrl, stateDir })
      : await resolveEnvironment(request.environment, {
          ...hubOpts,
          timeoutMs: config.floxhub.timeoutMs,
          maxCloneBytes: config.floxhub.maxCloneBytes,
          log,
          ...(input.headCheck && { headCheck: input.headCheck }),
          ...(guess && { cachedHead: guess }),
        });
  } catch (e) {
    await dropGuess();
    throw withheldTokenHint(e, config, allowed, token.source);
  }
  t.mark('resolve');
  const confirmed = guess !== undefined && resolved.commit === guess.commit && resolved.generation === guess.generation;
  if (!confirmed) await dropGuess();
  const { realised, rendered, dryClosure, dryRender, ms } = confirmed ? await early! : await realiseAndRender(resolved);
  if (!dryRun) recordUsage(stateDir, { resolved, mode: request.mode, system: config.runtime.system, key: rendered.key, closure: realised.closure });
  t.phases.realise = ms.realise;
  t.phases.render = ms.render;
  t.mark('ready'); // what was left of realise + render after the answer (0 when the guess was right)

  // Tools the image lacks come from the environment first, then from the shell store path.
  const view: View = [
    { containerPrefix: '/', hostDir: rootfs },
    { containerPrefix: NIX_STORE, hostDir: storeHostDir },
    { containerPrefix: ENV_MOUNT, hostDir: rendered.hostDir },
  ];
  const files: Array<{ hostPath: string; containerPath: string }> = [];
  for (const tool of missingTools) {
    const name = posix.basename(tool);
    const candidates = [`${ENV_MOUNT}/bin/${name}`, ...(shellStorePath ? [`${shellStorePath}/bin/${name}`] : [])];
    const hostPath = candidates.map((c) => resolveInView(view, c)).find((h) => h !== undefined);
    if (hostPath) files.push({ hostPath, containerPath: tool });
  }
  const hasSh = !missingTools.includes('/bin/sh') || files.some((f) => f.containerPath === '/bin/sh');

  const plan = planActivation({
    resolved,
    mode: request.mode,
    baseEnv: spec.process?.env ?? [],
    cwd: spec.process?.cwd ?? '/',
    hostDir: rendered.hostDir,
    ...(hasSh && { shellPath: '/bin/sh' }),
  });
  if (plan.needsShell && !hasSh && !plan.wrapArgs[0]?.startsWith(ENV_MOUNT)) {
    throw new FloxError(
      'activation',
      `activating ${envRef} needs a shell (${plan.shellReasons.join(', ')}), but neither the image nor the environment has /bin/sh; add a shell to the environment or set runtime.shell-store-path`,
    );
  }
  for (const w of plan.warnings) log.warn(w, { environment: envRef });

  const processEnv: Record<string, string> = { ...plan.env, FLOX_CONTAINERD: '1' };
  if (request.disableMetrics) processEnv.FLOX_DISABLE_METRICS = '1';

  let nixMutable: InjectionPlan['nixMutable'];
  if (request.nixMutable) {
    if (hostNix) throw new FloxError('activation', 'flox.dev/nix-mutable is not supported with runtime.store-mode = "nix"');
    const dir = join(bundle, 'flox-nix');
    nixMutable = { upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
    if (!dryRun) mkdirSync(nixMutable.upperDir, { recursive: true, mode: 0o755 });
    if (!dryRun) mkdirSync(nixMutable.workDir, { recursive: true, mode: 0o700 });
  }

  const closureOnly = config.runtime.storeMount === 'closure' && !nixMutable;
  const injection: InjectionPlan = {
    store: { hostDir: storeHostDir, ...(closureOnly && { closure: realised.closure }) },
    ...(nixMutable && { nixMutable }),
    env: { hostDir: rendered.hostDir, mountPath: ENV_MOUNT },
    tmpfs: [CACHE_MOUNT, STATE_DIR],
    processEnv,
    wrapArgs: plan.wrapArgs,
    files,
  };
  const modified = applyModifiers(spec, modifiersFor(injection));
  t.mark('inject');

  const skipExec = request.containerName !== undefined && request.skipContainersExec.includes(request.containerName);
  const execRecord: ExecRecord | undefined = skipExec
    ? undefined
    : {
        version: 1,
        environment: envRef,
        generation: resolved.generation,
        env: Object.entries(processEnv).map(([k, v]) => `${k}=${v}`),
        wrapArgs: plan.execWrapArgs,
      };

  return {
    spec: modified,
    ...(execRecord && { execRecord }),
    summary: {
      pod: request.sandboxName && `${request.sandboxNamespace ?? 'default'}/${request.sandboxName}`,
      // separate fields for log queries by namespace or by pod across restarts of its name
      ...(request.sandboxName && { namespace: request.sandboxNamespace ?? 'default' }),
      ...(request.sandboxUid && { podUid: request.sandboxUid }),
      container: request.containerName,
      environment: envRef,
      generation: resolved.generation,
      commit: resolved.commit,
      hubCache: resolved.fromCache,
      ...(resolved.staleReason && { stale: resolved.staleReason }),
      auth: token.source, // where the FloxHub token came from (never the token)
      policy: ruleField(allowed), // which policy rule let it start
      mode: request.mode,
      paths: realised.closure.length,
      pathsFetched: realised.fetched.length,
      cacheHits: realised.present.length,
      bytesFetched: realised.bytesDownloaded,
      rendered: rendered.created ? 'new' : 'cached',
      shell: plan.needsShell ? plan.shellReasons : false,
      provided: files.map((f) => f.containerPath),
      phasesMs: t.phases,
      ...(dryRun && { dryRun: { missingPaths: dryClosure?.missing ?? [], renderKey: dryRender?.key, rendered: dryRender?.exists ?? false } }),
    },
  };
}
