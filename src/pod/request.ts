// From a container's annotations to a validated request and a decision: leave the container
// exactly as runc would run it (skip), or activate its environment. Pure: no I/O.
import { FloxError } from '../errors.js';
import { ANN, CRI, KNOWN_FLOX_ANNOTATIONS, containerNameOf, firstOf } from './annotations.js';
import { parseEnvironmentRef, type EnvironmentRef } from './environment-ref.js';
import { podNamespace } from './namespace.js';

export type ActivateMode = 'run' | 'dev';

export interface PodIdentity {
  containerType?: 'sandbox' | 'container';
  containerName?: string;
  sandboxName?: string;
  /** only from keys the container runtime sets (pod/namespace.ts) */
  sandboxNamespace?: string;
  /** why the namespace could not be trusted (absent, or keys that disagree); the policy refuses */
  namespaceProblem?: string;
  sandboxUid?: string;
  sandboxId?: string;
}

export interface PodRequest extends PodIdentity {
  environment: EnvironmentRef;
  mode: ActivateMode;
  skipContainers: string[];
  skipContainersExec: string[];
  nixMutable: boolean;
  disableMetrics: boolean;
}

export type SkipReason = 'sandbox' | 'no-environment' | 'skip-containers';

export type Decision =
  | { action: 'skip'; reason: SkipReason; identity: PodIdentity }
  | { action: 'activate'; request: PodRequest };

function invalid(annotation: string, value: string, form: string): never {
  throw new FloxError('annotation', `invalid ${annotation} ${JSON.stringify(value)}: expected ${form}`);
}

export function parseBoolean(annotation: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  return invalid(annotation, value, '"true" or "false"');
}

export function parseMode(value: string | undefined): ActivateMode {
  if (value === undefined || value.trim() === '') return 'run';
  const v = value.trim();
  if (v === 'run' || v === 'dev') return v;
  return invalid(ANN.activateMode, value, '"run" or "dev"');
}

/** Container names are DNS labels (RFC 1123); a list is comma-separated, spaces allowed. */
export function parseNameList(annotation: string, value: string | undefined): string[] {
  if (value === undefined) return [];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n)) {
      invalid(annotation, value, 'a comma-separated list of container names (lowercase RFC 1123 labels)');
    }
  }
  return [...new Set(names)];
}

export function podIdentity(annotations: Record<string, string>): PodIdentity {
  const type = firstOf(annotations, CRI.containerType);
  const id: PodIdentity = {};
  if (type === 'sandbox' || type === 'container') id.containerType = type;
  const set = (k: keyof Omit<PodIdentity, 'containerType'>, keys: readonly string[]) => {
    const v = firstOf(annotations, keys);
    if (v !== undefined) id[k] = v;
  };
  const name = containerNameOf(annotations);
  if (name !== undefined) id.containerName = name;
  set('sandboxName', CRI.sandboxName);
  const ns = podNamespace(annotations);
  if ('namespace' in ns) id.sandboxNamespace = ns.namespace;
  else id.namespaceProblem = ns.problem;
  set('sandboxUid', CRI.sandboxUid);
  set('sandboxId', CRI.sandboxId);
  return id;
}

/** Validates every `flox.dev/*` annotation; an unknown one is an error (a typo would silently do nothing). */
export function parseRequest(annotations: Record<string, string>, identity: PodIdentity): PodRequest | undefined {
  for (const key of Object.keys(annotations)) {
    if (key.startsWith('flox.dev/') && !KNOWN_FLOX_ANNOTATIONS.has(key)) {
      throw new FloxError(
        'annotation',
        `unknown annotation ${key}; known: ${[...KNOWN_FLOX_ANNOTATIONS].join(', ')}`,
      );
    }
  }
  const mode = parseMode(annotations[ANN.activateMode]);
  const skipContainers = parseNameList(ANN.skipContainers, annotations[ANN.skipContainers]);
  const skipContainersExec = parseNameList(ANN.skipContainersExec, annotations[ANN.skipContainersExec]);
  const nixMutable = parseBoolean(ANN.nixMutable, annotations[ANN.nixMutable]);
  const disableMetrics = parseBoolean(ANN.disableMetrics, annotations[ANN.disableMetrics]);
  const env = annotations[ANN.environment];
  if (env === undefined) return undefined;
  return {
    ...identity,
    environment: parseEnvironmentRef(env, ANN.environment),
    mode,
    skipContainers,
    skipContainersExec,
    nixMutable,
    disableMetrics,
  };
}

export function decide(annotations: Record<string, string>): Decision {
  const identity = podIdentity(annotations);
  // The pause container gets the pod's annotations too; it never runs anything of ours.
  if (identity.containerType === 'sandbox') return { action: 'skip', reason: 'sandbox', identity };
  const request = parseRequest(annotations, identity);
  if (!request) return { action: 'skip', reason: 'no-environment', identity };
  if (identity.containerName !== undefined && request.skipContainers.includes(identity.containerName)) {
    return { action: 'skip', reason: 'skip-containers', identity };
  }
  return { action: 'activate', request };
}

export function describeContainer(id: PodIdentity, containerId?: string): string {
  // a namespace the runtime did not vouch for is never shown as if it were one
  const pod = id.sandboxName ? `${id.sandboxNamespace ?? '?'}/${id.sandboxName}` : undefined;
  const name = id.containerName ?? containerId ?? 'container';
  return pod ? `container ${name} of pod ${pod}` : `container ${name}`;
}
