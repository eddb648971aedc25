// The modifiers that make a Flox environment appear in a container. Pure: they copy what they
// change and never touch the file system.
import { basename } from 'node:path';
import type { OciMount, OciSpec } from '../oci/spec.js';
import type { InjectionPlan, SpecModifier } from './types.js';

export const NIX_STORE = '/nix/store';
/** Read-only, and nothing in it can gain privileges or open host devices. */
const RO_BIND = ['bind', 'ro', 'nosuid', 'nodev'];

function withMounts(spec: OciSpec, add: OciMount[], owned: (dest: string) => boolean = () => false): OciSpec {
  if (add.length === 0) return spec;
  const dests = new Set(add.map((m) => m.destination));
  // a mount we own replaces whatever the spec already has there
  const kept = (spec.mounts ?? []).filter((m) => !dests.has(m.destination) && !owned(m.destination.replace(/\/+$/, '')));
  return { ...spec, mounts: [...kept, ...add] };
}

/** /nix/store and everything below it is ours: no pod mount may stay there (or reach the node store). */
const underStore = (dest: string) => dest === NIX_STORE || dest.startsWith(`${NIX_STORE}/`) || dest === '/nix';

export function mountStore(plan: InjectionPlan): SpecModifier {
  return (spec) => {
    if (plan.nixMutable) {
      const { upperDir, workDir } = plan.nixMutable;
      return withMounts(spec, [
        {
          destination: NIX_STORE,
          type: 'overlay',
          source: 'overlay',
          options: [`lowerdir=${plan.store.hostDir}`, `upperdir=${upperDir}`, `workdir=${workDir}`, 'nosuid', 'nodev'],
        },
      ], underStore);
    }
    if (plan.store.closure) {
      return withMounts(
        spec,
        plan.store.closure.map((p) => ({
          destination: `${NIX_STORE}/${basename(p)}`,
          type: 'bind',
          source: `${plan.store.hostDir}/${basename(p)}`,
          options: RO_BIND,
        })),
        underStore,
      );
    }
    return withMounts(spec, [{ destination: NIX_STORE, type: 'bind', source: plan.store.hostDir, options: RO_BIND }], underStore);
  };
}

export function mountEnvironment(plan: InjectionPlan): SpecModifier {
  return (spec) =>
    plan.env
      ? withMounts(spec, [{ destination: plan.env.mountPath, type: 'bind', source: plan.env.hostDir, options: RO_BIND }])
      : spec;
}

export function mountTmpfs(plan: InjectionPlan): SpecModifier {
  return (spec) =>
    withMounts(
      spec,
      (plan.tmpfs ?? []).map((d) => ({ destination: d, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] })),
    );
}

export function mountFiles(plan: InjectionPlan): SpecModifier {
  return (spec) =>
    withMounts(
      spec,
      (plan.files ?? []).map((f) => ({ destination: f.containerPath, type: 'bind', source: f.hostPath, options: RO_BIND })),
    );
}

export function setProcessEnv(plan: InjectionPlan): SpecModifier {
  return (spec) => {
    if (!plan.processEnv) return spec;
    const env = Object.entries(plan.processEnv).map(([k, v]) => `${k}=${v}`);
    return { ...spec, process: { ...spec.process, env } };
  };
}

export function wrapProcessArgs(plan: InjectionPlan): SpecModifier {
  return (spec) => {
    if (!plan.wrapArgs || plan.wrapArgs.length === 0) return spec;
    return { ...spec, process: { ...spec.process, args: [...plan.wrapArgs, ...(spec.process?.args ?? [])] } };
  };
}

export function modifiersFor(plan: InjectionPlan): SpecModifier[] {
  return [mountStore(plan), mountEnvironment(plan), mountTmpfs(plan), mountFiles(plan), setProcessEnv(plan), wrapProcessArgs(plan)];
}

export function applyModifiers(spec: OciSpec, modifiers: readonly SpecModifier[]): OciSpec {
  return modifiers.reduce((s, m) => m(s), spec);
}
