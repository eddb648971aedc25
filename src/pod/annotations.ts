// The annotations a pod can set (pod-level; containerd copies `flox.dev/*` into every
// container's spec, the pause container's too) and the CRI metadata containerd and CRI-O add.
export const ANN = {
  environment: 'flox.dev/environment',
  activateMode: 'flox.dev/activate-mode',
  skipContainers: 'flox.dev/skip-containers',
  skipContainersExec: 'flox.dev/skip-containers-exec',
  nixMutable: 'flox.dev/nix-mutable',
  disableMetrics: 'flox.dev/disable-metrics',
} as const;

export const KNOWN_FLOX_ANNOTATIONS: ReadonlySet<string> = new Set(Object.values(ANN));

/** containerd's CRI plugin first, CRI-O's twin second. */
export const CRI = {
  containerType: ['io.kubernetes.cri.container-type', 'io.kubernetes.cri-o.ContainerType'],
  // CRI-O's ContainerName is the full `k8s_<name>_<pod>_<ns>_<uid>_<attempt>`; see containerNameOf
  containerName: ['io.kubernetes.cri.container-name', 'io.kubernetes.container.name', 'io.kubernetes.cri-o.ContainerName'],
  sandboxName: ['io.kubernetes.cri.sandbox-name', 'io.kubernetes.cri-o.SandboxName', 'io.kubernetes.pod.name'],
  // not firstOf: a pod can set some of these itself; see podNamespace in namespace.ts
  sandboxNamespace: ['io.kubernetes.cri.sandbox-namespace', 'io.kubernetes.pod.namespace', 'io.kubernetes.cri-o.Namespace'],
  sandboxUid: ['io.kubernetes.cri.sandbox-uid', 'io.kubernetes.pod.uid'],
  sandboxId: ['io.kubernetes.cri.sandbox-id', 'io.kubernetes.cri-o.SandboxID'],
} as const;

export function firstOf(annotations: Record<string, string>, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = annotations[k];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The Kubernetes container name, from containerd's plain name or CRI-O's `k8s_<name>_…` form. */
export function containerNameOf(annotations: Record<string, string>): string | undefined {
  const v = firstOf(annotations, CRI.containerName);
  if (v === undefined) return undefined;
  const m = /^k8s_([^_]+)_/.exec(v);
  return m ? m[1] : v;
}
