// Does this DaemonSet still want a pod on this node? The cleanup decision on SIGTERM rests on
// it: a rolling update replaces the pod while the answer stays yes (keep the handler: flox pods
// keep starting), deleting the DaemonSet or relabelling the node makes it no (undo the install).
// Mirrors the DaemonSet controller's predicates: nodeSelector, required node affinity, and
// NoSchedule/NoExecute taints the pod does not tolerate.
import type { DaemonSetObject, NodeObject } from './kube.js';

type Requirement = { key: string; operator: string; values?: string[] | undefined };

function matchRequirement(r: Requirement, value: string | undefined): boolean {
  const vals = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && vals.includes(value);
    case 'NotIn':
      return value === undefined || !vals.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || vals.length !== 1 || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(vals[0]!)) return false;
      return r.operator === 'Gt' ? BigInt(value) > BigInt(vals[0]!) : BigInt(value) < BigInt(vals[0]!);
    }
    default:
      return false;
  }
}

function tolerated(taint: { key: string; value?: string | undefined; effect: string }, tolerations: DaemonSetTolerations): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}
type DaemonSetTolerations = NonNullable<DaemonSetObject['spec']['template']['spec']['tolerations']>;

export function daemonSetSelectsNode(ds: DaemonSetObject, node: NodeObject): { selects: boolean; why: string } {
  if (ds.metadata.deletionTimestamp) return { selects: false, why: `DaemonSet ${ds.metadata.name} is being deleted` };
  const spec = ds.spec.template.spec;
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) {
    if (labels[k] !== v) return { selects: false, why: `node lacks nodeSelector label ${k}=${v}` };
  }
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && terms.length > 0) {
    const fields: Record<string, string> = { 'metadata.name': node.metadata.name };
    const ok = terms.some(
      (t) =>
        (t.matchExpressions ?? []).every((r) => matchRequirement(r, labels[r.key])) &&
        (t.matchFields ?? []).every((r) => matchRequirement(r, fields[r.key])),
    );
    if (!ok) return { selects: false, why: 'node matches none of the required node affinity terms' };
  }
  // the controller adds tolerations for these to every daemon pod
  const implicit: DaemonSetTolerations = [
    'node.kubernetes.io/not-ready',
    'node.kubernetes.io/unreachable',
    'node.kubernetes.io/disk-pressure',
    'node.kubernetes.io/memory-pressure',
    'node.kubernetes.io/pid-pressure',
    'node.kubernetes.io/unschedulable',
    'node.kubernetes.io/network-unavailable',
  ].map((key) => ({ key, operator: 'Exists' as const }));
  const tolerations = [...(spec.tolerations ?? []), ...implicit];
  for (const taint of node.spec?.taints ?? []) {
    if ((taint.effect === 'NoSchedule' || taint.effect === 'NoExecute') && !tolerated(taint, tolerations)) {
      return { selects: false, why: `node has taint ${taint.key}:${taint.effect} the DaemonSet does not tolerate` };
    }
  }
  return { selects: true, why: `DaemonSet ${ds.metadata.name} still selects node ${node.metadata.name}` };
}
