// `doctor` evaluation, pure: check results, the exit code, the report text, and the rules that
// judge a CRI handler table and a clock skew. The probes that gather facts live in doctor-probes.ts.
import { getTable, type TomlTable } from '../install/toml-edit.js';
import { formatBytes } from './format.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do about a warn or fail */
  fix?: string;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, status: 'pass', detail });
export const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'warn', detail, fix });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });

/** 0 when nothing failed (warnings included), 1 otherwise. */
export function doctorExitCode(results: CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

export function formatDoctor(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 4);
  const lines = results.map((r) => {
    const head = `${r.status.toUpperCase().padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}`;
    return r.fix ? `${head}\n${' '.repeat(width + 8)}fix: ${r.fix}` : head;
  });
  const n = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  lines.push('', `${n('pass')} passed, ${n('warn')} warnings, ${n('fail')} failed`);
  return lines.join('\n');
}

/** The CRI handler `flox` in an effective containerd config (main file with its imports merged). */
export function judgeContainerdHandler(
  effective: TomlTable,
  source: string,
  isExecutable: (p: string) => boolean,
): CheckResult[] {
  const name = 'cri-handler';
  const version = typeof effective.version === 'bigint' ? Number(effective.version) : typeof effective.version === 'number' ? effective.version : 1;
  const pluginId = version >= 3 ? 'io.containerd.cri.v1.runtime' : 'io.containerd.grpc.v1.cri';
  const ctd = getTable(effective, ['plugins', pluginId, 'containerd']);
  const runtimes = getTable(ctd, ['runtimes']) ?? {};
  const flox = getTable(runtimes, ['flox']);
  if (!flox) return [fail(name, `${source} has no \`flox\` runtime handler (plugins."${pluginId}".containerd.runtimes.flox)`, 'run `flox-runtime install` on this node')];
  const out: CheckResult[] = [pass(name, `${source}: handler \`flox\` present`)];
  const ann = Array.isArray(flox.pod_annotations) ? (flox.pod_annotations as unknown[]) : [];
  out.push(
    ann.includes('flox.dev/*')
      ? pass('cri-pod-annotations', 'pod_annotations includes "flox.dev/*"')
      : fail('cri-pod-annotations', `pod_annotations is ${JSON.stringify(ann)}: containers never see flox.dev/* annotations`, 'add "flox.dev/*" to runtimes.flox.pod_annotations (or run `flox-runtime install` again) and restart containerd'),
  );
  const opts = getTable(flox, ['options']) ?? {};
  const bin = opts.BinaryName;
  out.push(
    typeof bin === 'string' && bin !== '' && isExecutable(bin)
      ? pass('cri-binary', `BinaryName ${bin} is an executable`)
      : fail('cri-binary', `BinaryName ${JSON.stringify(bin ?? null)} is not an existing executable`, 'run `flox-runtime install` again, or point runtimes.flox.options.BinaryName at bin/flox-runtime'),
  );
  const defaultName = typeof ctd?.default_runtime_name === 'string' ? ctd.default_runtime_name : 'runc';
  const runc = getTable(runtimes, [defaultName]) ?? getTable(runtimes, ['runc']);
  const sc = (t: TomlTable | undefined) => getTable(t, ['options'])?.SystemdCgroup === true;
  if (!runc) out.push(warn('cri-systemd-cgroup', 'no runc handler to compare SystemdCgroup with', 'check the default runtime in the containerd config'));
  else if (sc(runc) === sc(flox)) out.push(pass('cri-systemd-cgroup', `SystemdCgroup = ${sc(flox)} as the ${defaultName} handler`));
  else out.push(fail('cri-systemd-cgroup', `SystemdCgroup is ${sc(flox)} for flox but ${sc(runc)} for ${defaultName}: pods would get the wrong cgroup driver`, `set runtimes.flox.options.SystemdCgroup = ${sc(runc)} and restart containerd`));
  return out;
}

/** CRI-O: the handler's runtime_path; CRI-O passes pod annotations through and has one cgroup manager. */
export function judgeCrioHandler(effective: TomlTable, source: string, isExecutable: (p: string) => boolean): CheckResult[] {
  const flox = getTable(effective, ['crio', 'runtime', 'runtimes', 'flox']);
  if (!flox) return [fail('cri-handler', `${source} has no \`flox\` runtime ([crio.runtime.runtimes.flox])`, 'run `flox-runtime install` on this node')];
  const p = flox.runtime_path;
  return [
    pass('cri-handler', `${source}: handler \`flox\` present`),
    typeof p === 'string' && isExecutable(p)
      ? pass('cri-binary', `runtime_path ${p} is an executable`)
      : fail('cri-binary', `runtime_path ${JSON.stringify(p ?? null)} is not an existing executable`, 'run `flox-runtime install` again'),
  ];
}

export const MAX_SKEW_MS = 5 * 60_000;

export function judgeClock(serverDate: string | undefined, localMs: number, source: string): CheckResult {
  if (!serverDate) return warn('clock', `cannot compare: no Date header from ${source}`, 'check the node time with `timedatectl`');
  const remote = Date.parse(serverDate);
  if (Number.isNaN(remote)) return warn('clock', `unparseable Date header ${JSON.stringify(serverDate)} from ${source}`, 'check the node time with `timedatectl`');
  const skew = localMs - remote;
  const s = Math.round(skew / 1000);
  // HTTP dates have one-second resolution
  if (Math.abs(skew) <= MAX_SKEW_MS) return pass('clock', `within ${Math.abs(s)} s of ${source}`);
  return fail('clock', `node clock is ${Math.abs(s)} s ${skew > 0 ? 'ahead of' : 'behind'} ${source}; TLS and token expiry checks fail on a wrong clock`, 'enable time sync (chrony/systemd-timesyncd) on the node');
}

export function judgeDisk(stateDir: string, freeBytes: number, totalBytes: number): CheckResult {
  const pct = totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 0;
  const detail = `${formatBytes(freeBytes)} free of ${formatBytes(totalBytes)} (${pct.toFixed(0)}%) on ${stateDir}`;
  if (freeBytes < 512 * 1024 ** 2) return fail('disk', detail, 'free space: `flox-runtime gc`, or lower gc.max-bytes');
  if (pct < 10 || freeBytes < 2 * 1024 ** 3) return warn('disk', detail, 'run `flox-runtime gc` or set gc.max-bytes');
  return pass('disk', detail);
}

/** No policy is today's behaviour; on a node shared by namespaces that is worth a warning. */
export function judgePolicy(policy: { mode: 'enforce' | 'off'; default: 'deny' | 'allow'; rules: unknown[] }, nodeToken: boolean, namespaces: string[]): CheckResult {
  if (policy.mode === 'enforce') return pass('policy', `enforced: ${policy.rules.length} rule(s), default ${policy.default}`);
  const seen = namespaces.length ? `flox containers of ${namespaces.length} namespace(s) on this node (${namespaces.join(', ')})` : 'no flox containers on this node now';
  const what = `no [policy]: every pod may use every environment, nix-mutable and every substituter${nodeToken ? ', and the node token (floxhub.token-file)' : ''}`;
  if (namespaces.length > 1) return warn('policy', `${what}; ${seen}`, 'add a [policy] table to the config (docs/security.md, "Policy")');
  return pass('policy', `${what}; ${seen}`);
}
