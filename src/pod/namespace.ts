// The pod's namespace, read only from the keys a pod cannot forge (docs/security.md, "Policy").
// containerd sets io.kubernetes.cri.sandbox-namespace after copying the pod's passthrough
// annotations; CRI-O copies every pod annotation into the spec first and sets kubelet's
// container label io.kubernetes.pod.namespace last. Each runtime's own key therefore always
// holds the truth, and a pod can only ADD a key the other runtime would set (or CRI-O's
// io.kubernetes.cri-o.Namespace, which CRI-O sets on sandboxes only). So: every namespace key
// present must agree, and at least one authoritative key must be there; otherwise fail closed.

/** The keys a container runtime writes last, over anything the pod's annotations put there. */
export const AUTHORITATIVE_NAMESPACE_KEYS = ['io.kubernetes.cri.sandbox-namespace', 'io.kubernetes.pod.namespace'] as const;
/** Keys that name a namespace but that a pod may have set itself; they may only agree. */
export const OTHER_NAMESPACE_KEYS = ['io.kubernetes.cri-o.Namespace'] as const;

// a Kubernetes namespace is an RFC 1123 label
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type PodNamespace = { namespace: string } | { problem: string };

export function podNamespace(annotations: Record<string, string>): PodNamespace {
  const seen: Array<[string, string]> = [];
  for (const k of [...AUTHORITATIVE_NAMESPACE_KEYS, ...OTHER_NAMESPACE_KEYS]) {
    const v = annotations[k];
    if (v !== undefined) seen.push([k, v]);
  }
  const shown = () => seen.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  const own = seen.find(([k]) => (AUTHORITATIVE_NAMESPACE_KEYS as readonly string[]).includes(k));
  if (!own) {
    return { problem: `the container runtime set no namespace key (${AUTHORITATIVE_NAMESPACE_KEYS.join(' or ')})${seen.length ? `; only ${shown()}, which a pod can set itself` : ''}` };
  }
  if (seen.some(([, v]) => v !== own[1])) {
    return { problem: `the namespace keys disagree (${shown()}): a pod annotation shadows a key the container runtime sets` };
  }
  if (!NAMESPACE.test(own[1])) return { problem: `${own[0]}=${JSON.stringify(own[1])} is not a Kubernetes namespace name` };
  return { namespace: own[1] };
}
