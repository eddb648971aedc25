// zod shapes of the Kubernetes objects deploy/ uses, for the fields it uses. Strict where a typo
// would silently change behaviour (unknown keys in the pod spec and container are rejected).
import { z } from 'zod';

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63);
const labelKey = z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
const labelValue = z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/).max(63);
const labels = z.record(labelKey, labelValue);

export const ObjectMeta = z
  .object({ name: dnsLabel, namespace: dnsLabel.optional(), labels: labels.optional(), annotations: z.record(z.string()).optional() })
  .strict();

export const Namespace = z.object({ apiVersion: z.literal('v1'), kind: z.literal('Namespace'), metadata: ObjectMeta }).strict();
export const ServiceAccount = z.object({ apiVersion: z.literal('v1'), kind: z.literal('ServiceAccount'), metadata: ObjectMeta }).strict();
export const ConfigMap = z.object({ apiVersion: z.literal('v1'), kind: z.literal('ConfigMap'), metadata: ObjectMeta, data: z.record(z.string()) }).strict();

const PolicyRule = z.object({ apiGroups: z.array(z.string()), resources: z.array(z.string()), verbs: z.array(z.enum(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'])) }).strict();
export const ClusterRole = z.object({ apiVersion: z.literal('rbac.authorization.k8s.io/v1'), kind: z.literal('ClusterRole'), metadata: ObjectMeta, rules: z.array(PolicyRule) }).strict();
export const Role = ClusterRole.extend({ kind: z.literal('Role') });
const RoleRef = z.object({ apiGroup: z.literal('rbac.authorization.k8s.io'), kind: z.enum(['Role', 'ClusterRole']), name: z.string() }).strict();
const Subject = z.object({ kind: z.literal('ServiceAccount'), name: z.string(), namespace: z.string() }).strict();
export const ClusterRoleBinding = z
  .object({ apiVersion: z.literal('rbac.authorization.k8s.io/v1'), kind: z.literal('ClusterRoleBinding'), metadata: ObjectMeta, roleRef: RoleRef, subjects: z.array(Subject) })
  .strict();
export const RoleBinding = ClusterRoleBinding.extend({ kind: z.literal('RoleBinding') });

export const RuntimeClass = z
  .object({
    apiVersion: z.literal('node.k8s.io/v1'),
    kind: z.literal('RuntimeClass'),
    metadata: ObjectMeta,
    handler: dnsLabel,
    scheduling: z.object({ nodeSelector: labels.optional(), tolerations: z.array(z.unknown()).optional() }).strict().optional(),
    overhead: z.object({ podFixed: z.record(z.string()) }).strict().optional(),
  })
  .strict();

const EnvVar = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
    value: z.string().optional(),
    valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.enum(['spec.nodeName', 'metadata.name', 'metadata.namespace']) }).strict() }).strict().optional(),
  })
  .strict()
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), 'exactly one of value, valueFrom');

const Container = z
  .object({
    name: dnsLabel,
    image: z.string().min(1),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    env: z.array(EnvVar).optional(),
    securityContext: z.object({ privileged: z.boolean().optional() }).strict().optional(),
    readinessProbe: z.object({ exec: z.object({ command: z.array(z.string()) }).strict(), periodSeconds: z.number().int().positive().optional() }).strict().optional(),
    resources: z.object({ requests: z.record(z.string()).optional(), limits: z.record(z.string()).optional() }).strict().optional(),
    volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string().startsWith('/'), readOnly: z.boolean().optional() }).strict()).optional(),
  })
  .strict();

const Volume = z
  .object({
    name: dnsLabel,
    hostPath: z.object({ path: z.string().startsWith('/'), type: z.enum(['', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket']).optional() }).strict().optional(),
    configMap: z.object({ name: z.string(), optional: z.boolean().optional() }).strict().optional(),
  })
  .strict();

export const PodSpec = z
  .object({
    serviceAccountName: z.string(),
    hostPID: z.boolean().optional(),
    priorityClassName: z.string().optional(),
    nodeSelector: labels.optional(),
    terminationGracePeriodSeconds: z.number().int().nonnegative().optional(),
    containers: z.array(Container).min(1),
    volumes: z.array(Volume).optional(),
  })
  .strict();

export const DaemonSet = z
  .object({
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('DaemonSet'),
    metadata: ObjectMeta,
    spec: z
      .object({
        selector: z.object({ matchLabels: labels }).strict(),
        updateStrategy: z.object({ type: z.enum(['RollingUpdate', 'OnDelete']), rollingUpdate: z.object({ maxUnavailable: z.union([z.number(), z.string()]) }).strict().optional() }).strict().optional(),
        template: z.object({ metadata: z.object({ labels }).strict(), spec: PodSpec }).strict(),
      })
      .strict(),
  })
  .strict();

export const Kustomization = z
  .object({ apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'), kind: z.literal('Kustomization'), resources: z.array(z.string()) })
  .strict();

export const ByKind = { Namespace, ServiceAccount, ConfigMap, ClusterRole, Role, ClusterRoleBinding, RoleBinding, RuntimeClass, DaemonSet } as const;
