// The namespace a policy decides on comes only from keys the container runtime sets last
// (docs/security.md, "Policy"): a pod annotation may add a key, never change the runtime's own.
import { describe, expect, it } from 'vitest';
import { podNamespace } from '../../../src/pod/namespace.js';
import { podIdentity } from '../../../src/pod/request.js';

// what each runtime writes into a container's config.json (containerd: its CRI keys; CRI-O:
// kubelet's container labels, io.kubernetes.pod.*)
const CONTAINERD = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-name': 'job', 'io.kubernetes.cri.sandbox-namespace': 'tenant-a' };
const CRIO = { 'io.kubernetes.cri-o.ContainerType': 'container', 'io.kubernetes.pod.name': 'job', 'io.kubernetes.pod.namespace': 'tenant-a' };

describe('the pod namespace', () => {
  it.each([
    ['containerd', CONTAINERD],
    ['CRI-O', CRIO],
    ['CRI-O with an agreeing io.kubernetes.cri-o.Namespace', { ...CRIO, 'io.kubernetes.cri-o.Namespace': 'tenant-a' }],
    ['containerd with every key agreeing', { ...CONTAINERD, 'io.kubernetes.pod.namespace': 'tenant-a', 'io.kubernetes.cri-o.Namespace': 'tenant-a' }],
  ])('is read from the runtime on %s', (_, ann) => {
    expect(podNamespace(ann)).toEqual({ namespace: 'tenant-a' });
    expect(podIdentity(ann).sandboxNamespace).toBe('tenant-a');
  });

  it.each([
    // CRI-O copies every pod annotation into the spec: a pod can add containerd's key
    ['on CRI-O, a pod annotation io.kubernetes.cri.sandbox-namespace', { ...CRIO, 'io.kubernetes.cri.sandbox-namespace': 'kube-system' }],
    // ... or CRI-O's own sandbox key, which CRI-O never sets on a container
    ['on CRI-O, a pod annotation io.kubernetes.cri-o.Namespace', { ...CRIO, 'io.kubernetes.cri-o.Namespace': 'kube-system' }],
    // containerd with pod_annotations wider than flox.dev/* passes such keys through
    ['on containerd, a passed-through io.kubernetes.pod.namespace', { ...CONTAINERD, 'io.kubernetes.pod.namespace': 'kube-system' }],
  ])('%s that claims another namespace is never believed', (_, ann) => {
    const ns = podNamespace(ann);
    expect(ns).toEqual({ problem: expect.stringMatching(/namespace keys disagree .*kube-system/) });
    const id = podIdentity(ann);
    expect(id.sandboxNamespace).toBeUndefined();
    expect(id.namespaceProblem).toMatch(/a pod annotation shadows a key the container runtime sets/);
  });

  it('a spec with only a key a pod can set has no trusted namespace', () => {
    expect(podNamespace({ 'io.kubernetes.cri-o.Namespace': 'kube-system' })).toEqual({ problem: expect.stringMatching(/set no namespace key .*which a pod can set itself/) });
    expect(podNamespace({})).toEqual({ problem: expect.stringMatching(/set no namespace key/) });
  });

  it('a value that is no namespace name is refused', () => {
    expect(podNamespace({ 'io.kubernetes.cri.sandbox-namespace': 'A/B' })).toEqual({ problem: expect.stringMatching(/not a Kubernetes namespace name/) });
  });
});
