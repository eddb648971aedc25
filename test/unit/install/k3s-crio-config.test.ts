import { describe, expect, it } from 'vitest';
import { planK3s, planK3sUninstall, TEMPLATE_SEED } from '../../../src/install/k3s-config.js';
import { CRIO_DROPIN, planCrio, planCrioUninstall } from '../../../src/install/crio-config.js';
import { getTable, OWNED_HEADER, parseToml } from '../../../src/install/toml-edit.js';
import { fixture } from './helpers.js';

const BIN = '/opt/flox-runtime/bin/flox-runtime';
const RENDERED = '/var/lib/rancher/k3s/agent/etc/containerd/config.toml';

describe('k3s / rke2 template', () => {
  const rendered = fixture('k3s-config.toml');

  it('creates config.toml.tmpl from the base template plus the handler cloned from the rendered runc', () => {
    const plan = planK3s({ renderedPath: RENDERED, renderedText: rendered, templateText: null, binaryName: BIN });
    expect(plan.templatePath).toBe('/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl');
    const t = plan.edits[0]!.after!;
    expect(t.startsWith(TEMPLATE_SEED)).toBe(true);
    // what k3s renders = base + our block; the block alone must be valid TOML
    const block = t.slice(TEMPLATE_SEED.length);
    expect(getTable(parseToml(block, 'block'), ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'flox'])).toMatchObject({
      pod_annotations: ['flox.dev/*'],
      options: { SystemdCgroup: true, BinaryName: BIN },
    });
    // rendered base + block is a valid config with both handlers
    const whole = parseToml(rendered + block, 'rendered');
    expect(Object.keys(getTable(whole, ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes'])!)).toEqual(['runc', 'flox']);
    expect(planK3sUninstall(plan.templatePath, t)).toEqual([expect.objectContaining({ after: null })]);
  });

  it("appends to a user's template and restores it byte for byte", () => {
    const tmpl = fixture('k3s-config.toml.tmpl');
    const plan = planK3s({ renderedPath: RENDERED, renderedText: rendered, templateText: tmpl, binaryName: BIN });
    const after = plan.edits[0]!.after!;
    expect(after.startsWith(tmpl)).toBe(true);
    expect(planK3s({ renderedPath: RENDERED, renderedText: rendered, templateText: after, binaryName: BIN }).edits[0]!.after).toBe(after);
    expect(planK3sUninstall(plan.templatePath, after)[0]!.after).toBe(tmpl);
  });

  it('uses config-v3.toml.tmpl for a version 3 rendered config', () => {
    const v3 = fixture('containerd-2.1.toml');
    const plan = planK3s({ renderedPath: RENDERED, renderedText: v3, templateText: null, binaryName: BIN });
    expect(plan.templatePath.endsWith('/config-v3.toml.tmpl')).toBe(true);
    expect(plan.pluginId).toBe('io.containerd.cri.v1.runtime');
  });
});

describe('CRI-O drop-in', () => {
  const main = fixture('crio.conf');

  it('clones the default runtime (crun) and points runtime_path at flox-runtime', () => {
    const plan = planCrio({ mainText: main, dropins: [], dropinPath: CRIO_DROPIN, dropinText: null, binaryName: BIN });
    expect(plan.clonedFrom).toBe('crun');
    const text = plan.edits[0]!.after!;
    expect(text.startsWith(OWNED_HEADER)).toBe(true);
    expect(getTable(parseToml(text, 'd'), ['crio', 'runtime', 'runtimes', 'flox'])).toEqual({
      runtime_path: BIN,
      runtime_type: 'oci',
      runtime_root: '/run/crun',
      monitor_path: '/usr/libexec/crio/conmon',
      allowed_annotations: ['io.containers.trace-syscall'],
    });
    expect(planCrioUninstall(CRIO_DROPIN, text)).toEqual([expect.objectContaining({ after: null })]);
  });

  it('follows a drop-in that changes the default runtime, and refuses a foreign flox runtime', () => {
    const d = { path: '/etc/crio/crio.conf.d/10-runc.conf', text: '[crio.runtime]\ndefault_runtime = "runc"\n' };
    expect(planCrio({ mainText: main, dropins: [d], dropinPath: CRIO_DROPIN, dropinText: null, binaryName: BIN }).clonedFrom).toBe('runc');
    const foreign = { path: '/etc/crio/crio.conf.d/50-x.conf', text: '[crio.runtime.runtimes.flox]\nruntime_path = "/x"\n' };
    expect(() => planCrio({ mainText: main, dropins: [foreign], dropinPath: CRIO_DROPIN, dropinText: null, binaryName: BIN })).toThrow(/already defines/);
  });

  it('refuses malformed crio.conf', () => {
    expect(() => planCrio({ mainText: '[crio\n', dropins: [], dropinPath: CRIO_DROPIN, dropinText: null, binaryName: BIN })).toThrow(/not valid TOML/);
  });
});
