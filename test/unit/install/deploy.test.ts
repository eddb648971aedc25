// deploy/ validated: every manifest parses, matches the Kubernetes shapes it uses, and agrees
// with the code (handler name, node label, RBAC for the calls the installer makes).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { ByKind, DaemonSet, Kustomization, RuntimeClass } from './k8s-schemas.js';
import { HANDLER } from '../../../src/install/containerd-config.js';
import { NODE_LABEL } from '../../../src/install/installer.js';

const ROOT = join(import.meta.dirname, '../../..');
const DEPLOY = join(ROOT, 'deploy');

type Obj = { kind: keyof typeof ByKind; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(DEPLOY, file), 'utf8'));
  return docs.map((d) => {
    expect(d.errors, `${file}: ${d.errors.map((e) => e.message).join('; ')}`).toEqual([]);
    return d.toJS() as Obj;
  });
}

const files = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');

it('deploy/README.md names every manifest', () => {
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const f of files) expect(readme).toContain(`\`${f}\``);
});
const objects = files.flatMap((f) => load(f).map((o) => ({ file: f, o })));
const find = <K extends keyof typeof ByKind>(kind: K, name?: string) =>
  objects.filter(({ o }) => o.kind === kind && (!name || o.metadata.name === name)).map(({ o }) => (ByKind[kind] as z.ZodTypeAny).parse(o) as z.infer<(typeof ByKind)[K]>);

describe('deploy/ manifests', () => {
  it.each(objects.map(({ file, o }) => [`${file}: ${o.kind}/${o.metadata?.name}`, o] as const))('%s matches its schema', (_n, o) => {
    const schema = ByKind[o.kind];
    expect(schema, `unexpected kind ${o.kind}`).toBeDefined();
    const r = (schema as z.ZodTypeAny).safeParse(o);
    expect(r.success ? [] : r.error.issues).toEqual([]);
  });

  it('kustomization lists every manifest', () => {
    const k = Kustomization.parse(parseYaml(readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8')));
    expect([...k.resources].sort()).toEqual([...files].sort());
  });

  it('RuntimeClass `flox` uses the handler the installer registers and the label it sets', () => {
    const [rc] = find('RuntimeClass', 'flox') as z.infer<typeof RuntimeClass>[];
    expect(rc!.handler).toBe(HANDLER);
    expect(rc!.scheduling?.nodeSelector).toEqual({ [NODE_LABEL]: 'true' });
  });

  it('the DaemonSet runs `install --daemon` through the host root with what it needs', () => {
    const [ds] = find('DaemonSet') as z.infer<typeof DaemonSet>[];
    const spec = ds!.spec.template.spec;
    expect(ds!.spec.selector.matchLabels).toEqual(expect.objectContaining(ds!.spec.template.metadata.labels));
    expect(Object.entries(ds!.spec.selector.matchLabels).every(([k, v]) => ds!.spec.template.metadata.labels[k] === v)).toBe(true);
    expect(spec.hostPID).toBe(true);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(120);
    const c = spec.containers[0]!;
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    expect(argv).toEqual(expect.arrayContaining(['install', '--daemon', '--host-root=/host', '--host-exec=nsenter']));
    expect(c.securityContext?.privileged).toBe(true);
    // the host's / at /host, read-write
    const hostRoot = spec.volumes!.find((v) => v.hostPath?.path === '/');
    expect(c.volumeMounts).toContainEqual({ name: hostRoot!.name, mountPath: '/host' });
    // downward API for the label and the cleanup decision
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef.fieldPath ?? e.value]));
    expect(env).toMatchObject({ NODE_NAME: 'spec.nodeName', POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
    // optional prefetch list from the ConfigMap
    const cm = find('ConfigMap', 'flox-runtime-prefetch')[0]!;
    const vol = spec.volumes!.find((v) => v.configMap?.name === cm.metadata.name);
    expect(vol?.configMap?.optional).toBe(true);
    const mount = c.volumeMounts!.find((m) => m.name === vol!.name)!;
    expect(env.FLOX_PREFETCH_FILE).toBe(`${mount.mountPath}/${Object.keys(cm.data)[0]}`);
    // the readiness probe reads the file --ready-file writes
    const ready = argv.find((a) => a.startsWith('--ready-file='))!.split('=')[1];
    expect(c.readinessProbe?.exec.command).toContain(ready);
  });

  it('RBAC grants exactly the calls the installer makes, to its service account', () => {
    const [ds] = find('DaemonSet') as z.infer<typeof DaemonSet>[];
    const sa = find('ServiceAccount', ds!.spec.template.spec.serviceAccountName)[0]!;
    expect(sa.metadata.namespace).toBe(ds!.metadata.namespace);
    const cr = find('ClusterRole')[0]!;
    expect(cr.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] }]);
    const role = find('Role')[0]!;
    expect(role.metadata.namespace).toBe(ds!.metadata.namespace);
    expect(role.rules).toEqual(
      expect.arrayContaining([
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
      ]),
    );
    for (const b of [...find('ClusterRoleBinding'), ...find('RoleBinding')]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    }
    expect(find('ClusterRoleBinding')[0]!.roleRef.name).toBe(cr.metadata.name);
    expect(find('RoleBinding')[0]!.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    expect(find('Namespace').map((n) => n.metadata.name)).toContain(ds!.metadata.namespace);
  });
});

describe('Containerfile', () => {
  const text = readFileSync(join(ROOT, 'Containerfile'), 'utf8');
  it('is node:20-slim with bin/ and dist/, and runs the bundle the DaemonSet names', () => {
    expect(text).toMatch(/^FROM \S*node:20-slim$/m);
    expect(text).toMatch(/^COPY bin\/flox-runtime \/usr\/local\/lib\/flox-runtime\/bin\/flox-runtime$/m);
    expect(text).toMatch(/^COPY dist\/ \/usr\/local\/lib\/flox-runtime\/dist\/$/m);
    const [ds] = find('DaemonSet') as z.infer<typeof DaemonSet>[];
    expect(ds!.spec.template.spec.containers[0]!.command).toEqual(['node', '/usr/local/lib/flox-runtime/dist/flox-runtime.mjs']);
  });
});

describe('GitLab runner example', () => {
  const Runner = z.object({
    executor: z.literal('kubernetes'),
    kubernetes: z.object({
      image: z.string(),
      runtime_class_name: z.string(),
      pod_annotations: z.record(z.string()),
      pod_annotations_overwrite_allowed: z.string().optional(),
    }),
  });
  const cfg = z.object({ runners: z.array(Runner).length(1) }).parse(parseToml(readFileSync(join(DEPLOY, 'examples/gitlab-runner/config.toml'), 'utf8')));

  it('runs job pods with the flox RuntimeClass, flox/empty and the flox annotations', () => {
    const k = cfg.runners[0]!.kubernetes;
    expect(k.runtime_class_name).toBe('flox');
    expect(k.image).toBe('flox/empty:1.0.0');
    expect(k.pod_annotations).toEqual({
      'flox.dev/environment': expect.stringMatching(/^[\w.-]+\/[\w.-]+$/),
      'flox.dev/activate-mode': 'dev',
      'flox.dev/skip-containers': 'init-permissions,helper',
      'flox.dev/skip-containers-exec': 'build',
    });
    // the overwrite pattern admits the flox annotations (Go regexp, full match)
    expect(new RegExp(`^(?:${k.pod_annotations_overwrite_allowed})$`).test('flox.dev/environment')).toBe(true);
  });

  it('.gitlab-ci.yml parses and its overrides are flox annotations', () => {
    const ci = parseYaml(readFileSync(join(DEPLOY, 'examples/gitlab-runner/.gitlab-ci.yml'), 'utf8')) as Record<string, { script?: string[]; variables?: Record<string, string> }>;
    const jobs = Object.entries(ci).filter(([k]) => k !== 'stages');
    expect(jobs.length).toBeGreaterThan(0);
    for (const [, j] of jobs) expect(j.script?.length).toBeGreaterThan(0);
    const overrides = jobs.flatMap(([, j]) => Object.entries(j.variables ?? {}).filter(([k]) => k.startsWith('KUBERNETES_POD_ANNOTATIONS_')));
    for (const [, v] of overrides) expect(v).toMatch(/^flox\.dev\/[a-z-]+=.+$/);
  });
});
