// Registering the `flox` handler with CRI-O: a drop-in in crio.conf.d (CRI-O merges those over
// crio.conf in lexical order). The handler clones the default runtime's table (monitor and
// root settings) and points runtime_path at our binary; runtime_type "oci" means conmon runs it
// with runc's CLI, which is what flox-runtime speaks.
import { FloxError } from '../errors.js';
import { HANDLER, type ConfigFileEdit } from './containerd-config.js';
import { cloneToml, getTable, OWNED_HEADER, parseToml, toToml, type TomlTable } from './toml-edit.js';

export const CRIO_MAIN = '/etc/crio/crio.conf';
export const CRIO_DROPIN_DIR = '/etc/crio/crio.conf.d';
export const CRIO_DROPIN = `${CRIO_DROPIN_DIR}/99-flox-runtime.conf`;

function merge(to: TomlTable, from: TomlTable): TomlTable {
  const out: TomlTable = { ...to };
  for (const [k, v] of Object.entries(from)) {
    const cur = out[k];
    const tbl = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date);
    out[k] = tbl(cur) && tbl(v) ? merge(cur as TomlTable, v as TomlTable) : v;
  }
  return out;
}

export function planCrio(input: {
  mainText: string | null;
  /** Other drop-ins, in the order CRI-O reads them. */
  dropins: { path: string; text: string }[];
  dropinPath: string;
  dropinText: string | null;
  binaryName: string;
}): { runtime: TomlTable; clonedFrom: string | null; edits: ConfigFileEdit[]; notes: string[] } {
  let eff: TomlTable = input.mainText === null ? {} : parseToml(input.mainText, CRIO_MAIN);
  for (const d of input.dropins) {
    const t = parseToml(d.text, d.path);
    if (getTable(t, ['crio', 'runtime', 'runtimes', HANDLER])) {
      throw new FloxError('install', `${d.path} already defines a \`${HANDLER}\` runtime; remove it first`);
    }
    eff = merge(eff, t);
  }
  if (getTable(eff, ['crio', 'runtime', 'runtimes', HANDLER])) {
    throw new FloxError('install', `${CRIO_MAIN} already defines a \`${HANDLER}\` runtime; remove it first`);
  }
  const rt = getTable(eff, ['crio', 'runtime']);
  const defaultName = typeof rt?.default_runtime === 'string' ? rt.default_runtime : null;
  const runtimes = getTable(rt, ['runtimes']) ?? {};
  let clonedFrom: string | null = null;
  let base: TomlTable = {};
  for (const name of [defaultName, 'crun', 'runc']) {
    const t = name ? getTable(runtimes, [name]) : undefined;
    if (t && (t.runtime_type === undefined || t.runtime_type === 'oci')) {
      base = cloneToml(t);
      clonedFrom = name;
      break;
    }
  }
  // platform-specific binaries of the cloned runtime would bypass flox-runtime
  delete base.platform_runtime_paths;
  const runtime: TomlTable = { ...base, runtime_path: input.binaryName, runtime_type: 'oci' };
  const text = `${OWNED_HEADER}\n${toToml({ crio: { runtime: { runtimes: { [HANDLER]: runtime } } } })}`;
  return {
    runtime,
    clonedFrom,
    edits: [{ path: input.dropinPath, before: input.dropinText, after: text, reason: `CRI-O drop-in for the ${HANDLER} handler` }],
    notes: [clonedFrom ? `flox handler cloned from CRI-O runtime "${clonedFrom}"` : 'no default CRI-O runtime table found: using CRI-O defaults'],
  };
}

export function planCrioUninstall(dropinPath: string, dropinText: string | null): ConfigFileEdit[] {
  return dropinText !== null && dropinText.startsWith(OWNED_HEADER)
    ? [{ path: dropinPath, before: dropinText, after: null, reason: 'remove the flox-runtime drop-in' }]
    : [];
}
