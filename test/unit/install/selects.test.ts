import { describe, expect, it } from 'vitest';
import { daemonSetSelectsNode } from '../../../src/install/selects.js';
import { DaemonSetObject, NodeObject } from '../../../src/install/kube.js';

const node = (labels: Record<string, string>, taints: { key: string; effect: string; value?: string }[] = []) =>
  NodeObject.parse({ metadata: { name: 'n1', labels }, spec: { taints } });
const ds = (spec: Record<string, unknown>, meta: Record<string, unknown> = {}) =>
  DaemonSetObject.parse({ metadata: { name: 'flox-installer', ...meta }, spec: { template: { spec } } });

describe('daemonSetSelectsNode', () => {
  it.each([
    ['no constraints', ds({}), node({}), true],
    ['nodeSelector matches', ds({ nodeSelector: { pool: 'ci' } }), node({ pool: 'ci' }), true],
    ['nodeSelector no longer matches', ds({ nodeSelector: { pool: 'ci' } }), node({ pool: 'web' }), false],
    [
      'affinity In',
      ds({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['ci', 'x'] }] }] } } } }),
      node({ pool: 'ci' }),
      true,
    ],
    [
      'affinity NotIn excludes',
      ds({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'flox.dev/opt-out', operator: 'Exists' }] }] } } } }),
      node({}),
      false,
    ],
    [
      'matchFields on the node name',
      ds({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }] } } } }),
      node({}),
      false,
    ],
    ['untolerated NoExecute taint', ds({}), node({}, [{ key: 'dedicated', effect: 'NoExecute' }]), false],
    ['tolerated taint', ds({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }), node({}, [{ key: 'dedicated', effect: 'NoSchedule' }]), true],
    ['implicit toleration (unschedulable: a drain)', ds({}), node({}, [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }]), true],
    ['PreferNoSchedule ignored', ds({}), node({}, [{ key: 'x', effect: 'PreferNoSchedule' }]), true],
    ['DaemonSet being deleted', ds({}, { deletionTimestamp: '2026-01-01T00:00:00Z' }), node({}), false],
  ])('%s', (_name, d, n, expected) => {
    expect(daemonSetSelectsNode(d, n).selects).toBe(expected);
  });
});
