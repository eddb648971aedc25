// Spec modifiers, in the style of NVIDIA's container toolkit: small pure functions from a spec
// to a spec, each a no-op when it has nothing to do, applied in order.
import type { OciSpec } from '../oci/spec.js';

export type SpecModifier = (spec: OciSpec) => OciSpec;

/** Everything the modifiers need, decided beforehand by the activator (all I/O done). */
export interface InjectionPlan {
  /** the node store on the host, mounted read-only at /nix/store (or only `closure`, path by path) */
  store: { hostDir: string; closure?: readonly string[] };
  /** per-container writable /nix/store: an overlay whose lower layer is the node store */
  nixMutable?: { upperDir: string; workDir: string };
  /** the rendered profile on the host, mounted read-only at envMountPath */
  env?: { hostDir: string; mountPath: string };
  /** per-container tmpfs mounts (FLOX_ENV_CACHE, the activation state) */
  tmpfs?: readonly string[];
  /** the process's complete environment */
  processEnv?: Readonly<Record<string, string>>;
  /** put before process.args (the activation shell and script), empty when none is needed */
  wrapArgs?: readonly string[];
  /** host files bind-mounted read-only where the image lacks them (/bin/sh, /usr/bin/env) */
  files?: ReadonlyArray<{ hostPath: string; containerPath: string }>;
}
