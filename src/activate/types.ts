// The seam between the OCI wrapper and the environment machinery: the wrapper hands over a
// validated request and the loaded spec; activation returns the modified spec and what a later
// `exec` into the same container needs to join the environment.
import type { Config } from '../config/schema.js';
import type { HeadCheck } from '../floxhub/head-check.js';
import type { PendingLock } from '../ops/gc-lock.js';
import type { Logger } from '../log/logger.js';
import type { OciSpec } from '../oci/spec.js';
import type { PodRequest } from '../pod/request.js';

export interface ActivationInput {
  request: PodRequest;
  spec: OciSpec;
  bundle: string;
  containerId?: string;
  config: Config;
  log: Logger;
  /** the FloxHub head check, already sent by the caller (early-start.ts) */
  headCheck?: HeadCheck;
  /** the gc lock, being taken shared by the caller (early-start.ts); the activation releases it */
  gcLock?: PendingLock;
  /** explain: plan only; realise and render nothing (offline: resolve from the node cache only) */
  dryRun?: { offline: boolean };
}

/** Kept beside runc's state for the container; disappears with `runc delete`. */
export interface ExecRecord {
  version: 1;
  environment: string;
  generation: number;
  /** NAME=value entries set on every exec'd process (override the process's own). */
  env: string[];
  /** Prepended to an exec'd process's args (empty when no shell is needed). */
  wrapArgs: string[];
}

export interface ActivationResult {
  spec: OciSpec;
  /** Absent when exec'd processes must not join the environment (skip-containers-exec). */
  execRecord?: ExecRecord;
  /** One structured summary for the log: generation, cache hits, bytes, phase times. */
  summary: Record<string, unknown>;
}

export type Activator = (input: ActivationInput) => Promise<ActivationResult>;
