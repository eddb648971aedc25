// Registering the `flox` handler with containerd: pure transforms from config text to new text.
//
// Facts these rules rest on (checked against containerd 1.6.20 here and containerd's source):
// - config `version = 2` (containerd 1.6/1.7, also read by 2.x) keeps the CRI plugin at
//   `io.containerd.grpc.v1.cri`; `version = 3` (2.x) at `io.containerd.cri.v1.runtime`.
// - containerd 1.x merges an imported file by *replacing* each plugin section it names
//   (`to.Plugins[k] = v`): a drop-in holding only `runtimes.flox` wipes runc and every other CRI
//   setting ("no corresponding runtime configured ... default_runtime_name"). So on 1.x the
//   handler goes into the main file, and an import that defines the CRI section would shadow it.
//   containerd 2.x deep-merges plugin tables, so there a drop-in holding only our table is safe.
// - a config file naming `runtimes.flox` but not `runtimes.runc` loses the built-in runc handler,
//   so a missing main file is seeded from `containerd config default`.
// - containerd ≥ 2.2 imports /etc/containerd/conf.d/*.toml by default; whether an explicit
//   `imports` in a user's file replaces that default is unconfirmed, so a drop-in is used only
//   when the main file's own `imports` covers it, or when there is no main file on ≥ 2.2.
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { FloxError } from '../errors.js';
import { goGlobMatch } from './glob.js';
import {
  appendBlock,
  cloneToml,
  getTable,
  hasBlock,
  OWNED_HEADER,
  parseToml,
  stripBlock,
  toToml,
  type TomlTable,
} from './toml-edit.js';

export const HANDLER = 'flox';
export const POD_ANNOTATIONS = ['flox.dev/*'];
export const RUNC_SHIM = 'io.containerd.runc.v2';

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

/** Parses `containerd --version` output or a node's `containerd://1.7.2` runtime version. */
export function parseContainerdVersion(text: string): Version | null {
  const m = /(?:^|[\s/])v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : null;
}

export function criPluginId(configVersion: number): string {
  return configVersion >= 3 ? 'io.containerd.cri.v1.runtime' : 'io.containerd.grpc.v1.cri';
}

export function configVersionOf(cfg: TomlTable, source: string): number {
  const v = cfg.version;
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 1;
  if (n < 2) {
    throw new FloxError(
      'install',
      `${source} is a version 1 containerd config (no \`version = 2\`); run \`containerd config migrate\` first`,
    );
  }
  return n;
}

/**
 * The handler table: a clone of the default runc handler (so SystemdCgroup and the other runc
 * options match what kubelet expects), with our binary and annotation pass-through. The default
 * runtime is used when it is runc-based; else the `runc` table; else a bare runc handler.
 */
export function cloneRuncRuntime(
  effective: TomlTable,
  pluginId: string,
  binaryName: string,
): { runtime: TomlTable; clonedFrom: string | null } {
  const ctd = getTable(effective, ['plugins', pluginId, 'containerd']);
  const runtimes = getTable(ctd, ['runtimes']) ?? {};
  const defaultName = typeof ctd?.default_runtime_name === 'string' ? ctd.default_runtime_name : 'runc';
  const isRunc = (t: TomlTable | undefined) => !!t && (t.runtime_type === undefined || t.runtime_type === RUNC_SHIM);
  let clonedFrom: string | null = null;
  let base: TomlTable = {};
  for (const name of [defaultName, 'runc']) {
    const t = getTable(runtimes, [name]);
    if (name !== HANDLER && isRunc(t)) {
      base = cloneToml(t!);
      clonedFrom = name;
      break;
    }
  }
  const options = getTable(base, ['options']) ?? {};
  const runtime: TomlTable = {
    ...base,
    runtime_type: RUNC_SHIM,
    pod_annotations: [...POD_ANNOTATIONS],
    options: { ...options, BinaryName: binaryName },
  };
  return { runtime, clonedFrom };
}

function nestRuntime(pluginId: string, runtime: TomlTable): TomlTable {
  return { plugins: { [pluginId]: { containerd: { runtimes: { [HANDLER]: runtime } } } } };
}

/** containerd 2.x merge: tables merge key by key, everything else is replaced. */
function deepMerge(to: TomlTable, from: TomlTable): TomlTable {
  const out: TomlTable = { ...to };
  for (const [k, v] of Object.entries(from)) {
    const cur = out[k];
    const isTable = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date);
    out[k] = isTable(cur) && isTable(v) ? deepMerge(cur as TomlTable, v as TomlTable) : v;
  }
  return out;
}

export function importPatterns(cfg: TomlTable, mainPath: string): string[] {
  const imports = Array.isArray(cfg.imports) ? cfg.imports.filter((x): x is string => typeof x === 'string') : [];
  return imports.map((p) => normalize(isAbsolute(p) ? p : join(dirname(mainPath), p)));
}

export interface ContainerdInput {
  /** Host-absolute path of the main config (for messages and relative imports). */
  mainPath: string;
  mainText: string | null;
  /** `containerd config default` of the host's containerd: the seed when there is no main file. */
  defaultText?: string | null;
  /** Files the main config imports (resolved, in order), other than our own drop-in. */
  imported: { path: string; text: string }[];
  /** Version of the containerd binary; null = unknown (treated like 1.x: main-file edit). */
  version: Version | null;
  binaryName: string;
  dropinPath: string;
  dropinText: string | null;
}

export interface ConfigFileEdit {
  path: string;
  before: string | null;
  after: string | null;
  reason: string;
}

export interface ContainerdPlan {
  mode: 'drop-in' | 'main-file';
  configVersion: number;
  pluginId: string;
  runtime: TomlTable;
  clonedFrom: string | null;
  edits: ConfigFileEdit[];
  notes: string[];
}

export const BACKUP_SUFFIX = '.flox-runtime.bak';

export function planContainerd(input: ContainerdInput): ContainerdPlan {
  const notes: string[] = [];
  const seeded = input.mainText === null;
  let baseText: string;
  if (input.mainText !== null) baseText = stripBlock(input.mainText, input.mainPath);
  else if (input.defaultText) baseText = input.defaultText;
  else {
    throw new FloxError(
      'install',
      `${input.mainPath} does not exist and \`containerd config default\` gave nothing to start from; create the config first`,
    );
  }
  const cfg = parseToml(baseText, input.mainPath);
  const configVersion = configVersionOf(cfg, input.mainPath);
  const pluginId = criPluginId(configVersion);
  const v2plus = (input.version?.major ?? 0) >= 2;

  // what containerd will see once it has merged the imports
  let effective = cfg;
  for (const imp of input.imported) {
    const t = parseToml(imp.text, imp.path);
    if (getTable(t, ['plugins', pluginId, 'containerd', 'runtimes', HANDLER])) {
      throw new FloxError(
        'install',
        `${imp.path} (imported by ${input.mainPath}) already defines a \`${HANDLER}\` runtime handler; remove it first`,
      );
    }
    if (!v2plus && getTable(t, ['plugins', pluginId])) {
      throw new FloxError(
        'install',
        `${imp.path} (imported by ${input.mainPath}) defines the whole [plugins."${pluginId}"] section, which containerd ` +
          `${input.version ? `${input.version.major}.${input.version.minor}` : '1.x'} uses instead of the main file's; ` +
          `the flox handler would be ignored. Move that import's settings into the main file or upgrade containerd to 2.x`,
      );
    }
    const plugins = getTable(t, ['plugins']);
    effective = v2plus ? deepMerge(effective, t) : { ...effective, plugins: { ...getTable(effective, ['plugins']), ...plugins } };
  }
  if (getTable(cfg, ['plugins', pluginId, 'containerd', 'runtimes', HANDLER])) {
    throw new FloxError(
      'install',
      `${input.mainPath} already defines a \`${HANDLER}\` runtime handler outside flox-runtime's managed block; remove it and run the installer again`,
    );
  }

  const { runtime, clonedFrom } = cloneRuncRuntime(effective, pluginId, input.binaryName);
  if (clonedFrom === null) notes.push(`no runc handler found in ${input.mainPath}: the flox handler uses containerd's runc defaults`);
  else notes.push(`flox handler cloned from runtime "${clonedFrom}"`);

  // a seed's imports do not count: the seed is only written in main-file mode
  const covered = !seeded && importPatterns(cfg, input.mainPath).some((p) => goGlobMatch(p, input.dropinPath));
  const defaultImports = seeded && !!input.version && (input.version.major > 2 || (input.version.major === 2 && input.version.minor >= 2));
  const useDropIn = v2plus && (covered || defaultImports);

  const edits: ConfigFileEdit[] = [];
  if (useDropIn) {
    const text = `${OWNED_HEADER}\n${toToml({ version: BigInt(configVersion), ...nestRuntime(pluginId, runtime) })}`;
    edits.push({ path: input.dropinPath, before: input.dropinText, after: text, reason: `containerd drop-in for the ${HANDLER} handler` });
    // a block left by an earlier main-file install would define the handler twice
    if (input.mainText !== null && input.mainText !== baseText) {
      edits.push({ path: input.mainPath, before: input.mainText, after: baseText, reason: 'remove the earlier flox-runtime block (now in the drop-in)' });
    }
    return { mode: 'drop-in', configVersion, pluginId, runtime, clonedFrom, edits, notes };
  }

  const after = appendBlock(baseText, toToml(nestRuntime(pluginId, runtime)));
  const check = getTable(parseToml(after, `${input.mainPath} (after adding the flox handler)`), [
    'plugins',
    pluginId,
    'containerd',
    'runtimes',
    HANDLER,
  ]);
  const opts = getTable(check, ['options']);
  if (!check || opts?.BinaryName !== input.binaryName) {
    throw new FloxError('install', `appending the flox handler to ${input.mainPath} did not register it; add it by hand`);
  }
  if (seeded) notes.push(`${input.mainPath} did not exist: created from \`containerd config default\``);
  edits.push({
    path: input.mainPath,
    before: input.mainText,
    after,
    reason: seeded ? 'create containerd config (defaults + flox handler)' : `add the ${HANDLER} handler block`,
  });
  if (input.dropinText !== null && input.dropinText.startsWith(OWNED_HEADER)) {
    edits.push({ path: input.dropinPath, before: input.dropinText, after: null, reason: 'remove the earlier flox-runtime drop-in' });
  }
  return { mode: 'main-file', configVersion, pluginId, runtime, clonedFrom, edits, notes };
}

/** Undo: strip our block, drop our drop-in; a main file we created goes when only the seed is left. */
export function planContainerdUninstall(input: {
  mainPath: string;
  mainText: string | null;
  seedText: string | null;
  dropinPath: string;
  dropinText: string | null;
}): ConfigFileEdit[] {
  const edits: ConfigFileEdit[] = [];
  if (input.mainText !== null && hasBlock(input.mainText)) {
    const stripped = stripBlock(input.mainText, input.mainPath);
    const created = input.seedText !== null && stripped === input.seedText;
    edits.push({
      path: input.mainPath,
      before: input.mainText,
      after: created ? null : stripped,
      reason: created ? 'remove the containerd config the installer created' : `remove the ${HANDLER} handler block`,
    });
  }
  if (input.dropinText !== null && input.dropinText.startsWith(OWNED_HEADER)) {
    edits.push({ path: input.dropinPath, before: input.dropinText, after: null, reason: 'remove the flox-runtime drop-in' });
  }
  return edits;
}
