// k3s and rke2 render containerd's config.toml themselves at every start and overwrite edits to
// it. They use config.toml.tmpl (config-v3.toml.tmpl for version 3 configs) instead when it
// exists; `{{ template "base" . }}` expands to what they would have rendered. The runc options
// to clone come from the rendered config.toml, which reflects the agent's cgroup driver.
import { basename, dirname, join } from 'node:path';
import { cloneRuncRuntime, configVersionOf, criPluginId, HANDLER, type ConfigFileEdit } from './containerd-config.js';
import { appendBlock, hasBlock, OWNED_HEADER, parseToml, stripBlock, toToml, type TomlTable } from './toml-edit.js';

export const K3S_CONTAINERD_DIR: Record<'k3s' | 'rke2', string> = {
  k3s: '/var/lib/rancher/k3s/agent/etc/containerd',
  rke2: '/var/lib/rancher/rke2/agent/etc/containerd',
};

export const TEMPLATE_SEED = `${OWNED_HEADER}\n{{ template "base" . }}\n`;

export function templateName(configVersion: number): string {
  return configVersion >= 3 ? 'config-v3.toml.tmpl' : 'config.toml.tmpl';
}

export interface K3sPlan {
  configVersion: number;
  pluginId: string;
  templatePath: string;
  runtime: TomlTable;
  clonedFrom: string | null;
  edits: ConfigFileEdit[];
  notes: string[];
}

export function planK3s(input: {
  renderedPath: string;
  renderedText: string;
  templateText: string | null;
  binaryName: string;
}): K3sPlan {
  const cfg = parseToml(input.renderedText, input.renderedPath);
  const configVersion = configVersionOf(cfg, input.renderedPath);
  const pluginId = criPluginId(configVersion);
  const templatePath = join(dirname(input.renderedPath), templateName(configVersion));
  const { runtime, clonedFrom } = cloneRuncRuntime(cfg, pluginId, input.binaryName);
  const body = toToml({ plugins: { [pluginId]: { containerd: { runtimes: { [HANDLER]: runtime } } } } });
  const base = input.templateText === null ? TEMPLATE_SEED : stripBlock(input.templateText, templatePath);
  const notes = [
    clonedFrom ? `flox handler cloned from runtime "${clonedFrom}" in ${basename(input.renderedPath)}` : 'no runc handler in the rendered config: using runc defaults',
  ];
  if (input.templateText !== null && !input.templateText.includes('{{')) {
    notes.push(`${templatePath} has no template actions: it replaces k3s's generated config entirely`);
  }
  return {
    configVersion,
    pluginId,
    templatePath,
    runtime,
    clonedFrom,
    edits: [
      {
        path: templatePath,
        before: input.templateText,
        after: appendBlock(base, body),
        reason: input.templateText === null ? 'create the containerd template (k3s base + flox handler)' : `add the ${HANDLER} handler block`,
      },
    ],
    notes,
  };
}

export function planK3sUninstall(templatePath: string, templateText: string | null): ConfigFileEdit[] {
  if (templateText === null || !hasBlock(templateText)) return [];
  const stripped = stripBlock(templateText, templatePath);
  return [
    {
      path: templatePath,
      before: templateText,
      after: stripped === TEMPLATE_SEED ? null : stripped,
      reason: stripped === TEMPLATE_SEED ? 'remove the template the installer created' : `remove the ${HANDLER} handler block`,
    },
  ];
}
