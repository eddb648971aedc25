import { describe, expect, it } from 'vitest';
import {
  cloneRuncRuntime,
  parseContainerdVersion,
  planContainerd,
  planContainerdUninstall,
  type ContainerdInput,
} from '../../../src/install/containerd-config.js';
import { getTable, OWNED_HEADER, parseToml } from '../../../src/install/toml-edit.js';
import { containerdDefault, fixture } from './helpers.js';

const BIN = '/opt/flox-runtime/bin/flox-runtime';
const MAIN = '/etc/containerd/config.toml';
const DROPIN = '/etc/containerd/conf.d/99-flox-runtime.toml';
const v = (s: string) => parseContainerdVersion(s);

function input(over: Partial<ContainerdInput>): ContainerdInput {
  return { mainPath: MAIN, mainText: null, imported: [], version: v('1.7.22'), binaryName: BIN, dropinPath: DROPIN, dropinText: null, ...over };
}

function flox(text: string, plugin: string) {
  return getTable(parseToml(text, 't'), ['plugins', plugin, 'containerd', 'runtimes', 'flox']);
}

describe('parseContainerdVersion', () => {
  it.each([
    ['containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3', 1, 6],
    ['containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da', 1, 7],
    ['containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376', 2, 1],
    ['containerd://2.0.1-k3s1', 2, 0],
  ])('%s', (text, major, minor) => {
    expect(parseContainerdVersion(text)).toMatchObject({ major, minor });
  });
  it('returns null for garbage', () => expect(parseContainerdVersion('nope')).toBeNull());
});

describe("Debian's containerd 1.6 default config (generated now)", () => {
  const main = containerdDefault();

  it('is a version 2 config; the handler goes into the main file as a clone of runc', () => {
    const plan = planContainerd(input({ mainText: main, version: v('1.6.20') }));
    expect(plan.mode).toBe('main-file');
    expect(plan.configVersion).toBe(2);
    expect(plan.clonedFrom).toBe('runc');
    const after = plan.edits[0]!.after!;
    expect(after.startsWith(main)).toBe(true); // the user's text is untouched, the block is appended
    const rt = flox(after, 'io.containerd.grpc.v1.cri')!;
    expect(rt).toMatchObject({ runtime_type: 'io.containerd.runc.v2', pod_annotations: ['flox.dev/*'] });
    expect(rt.options).toMatchObject({ BinaryName: BIN, SystemdCgroup: false, NoPivotRoot: false, IoUid: 0n });
    // the runc handler itself is unchanged
    const runc = getTable(parseToml(after, 't'), ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'runc', 'options']);
    expect(runc?.BinaryName).toBe('');
  });

  it('is idempotent: planning again on the result changes nothing', () => {
    const first = planContainerd(input({ mainText: main, version: v('1.6.20') })).edits[0]!.after!;
    const again = planContainerd(input({ mainText: first, version: v('1.6.20') }));
    expect(again.edits).toHaveLength(1);
    expect(again.edits[0]!.after).toBe(first);
  });

  it('uninstall restores the exact bytes', () => {
    const after = planContainerd(input({ mainText: main, version: v('1.6.20') })).edits[0]!.after!;
    const un = planContainerdUninstall({ mainPath: MAIN, mainText: after, seedText: null, dropinPath: DROPIN, dropinText: null });
    expect(un[0]!.after).toBe(main);
  });

  it('seeds a missing main file from the defaults and removes it again on uninstall', () => {
    const plan = planContainerd(input({ mainText: null, defaultText: main, version: v('1.6.20') }));
    expect(plan.mode).toBe('main-file');
    expect(plan.edits[0]!.before).toBeNull();
    const un = planContainerdUninstall({ mainPath: MAIN, mainText: plan.edits[0]!.after, seedText: main, dropinPath: DROPIN, dropinText: null });
    expect(un[0]!.after).toBeNull();
  });
});

describe('containerd 1.7 (version 2, SystemdCgroup = true)', () => {
  const main = fixture('containerd-1.7.toml');

  it('clones SystemdCgroup and keeps every comment', () => {
    const plan = planContainerd(input({ mainText: main }));
    const after = plan.edits[0]!.after!;
    expect(flox(after, 'io.containerd.grpc.v1.cri')?.options).toMatchObject({ SystemdCgroup: true, BinaryName: BIN });
    for (const line of main.split('\n').filter((l) => l.trim().startsWith('#'))) expect(after).toContain(line);
    expect(plan.edits[0]!.after!.slice(0, main.length)).toBe(main);
  });

  it('refuses when an import would replace the whole CRI section (containerd 1.x merge)', () => {
    const mainWithImport = main.replace('imports = []', 'imports = ["/etc/containerd/conf.d/*.toml"]');
    const nvidia = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n  runtime_type = "io.containerd.runc.v2"\n';
    expect(() =>
      planContainerd(input({ mainText: mainWithImport, imported: [{ path: '/etc/containerd/conf.d/99-nvidia.toml', text: nvidia }] })),
    ).toThrow(/uses instead of the main file's/);
  });

  it('refuses a flox handler someone else defined', () => {
    const own = `${main}\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.flox]\n  runtime_type = "io.containerd.runc.v2"\n`;
    expect(() => planContainerd(input({ mainText: own }))).toThrow(/already defines a `flox` runtime handler outside/);
  });

  it('refuses malformed TOML', () => {
    expect(() => planContainerd(input({ mainText: `${main}\n[plugins."io.containerd.grpc.v1.cri"\n` }))).toThrow(/not valid TOML/);
  });

  it('refuses a version 1 config', () => {
    expect(() => planContainerd(input({ mainText: '[plugins.cri]\n  sandbox_image = "x"\n' }))).toThrow(/version 1 containerd config/);
  });
});

describe('containerd 2.x (version 3)', () => {
  const main = fixture('containerd-2.1.toml');

  it('writes a drop-in holding only the handler when conf.d is imported', () => {
    const plan = planContainerd(input({ mainText: main, version: v('2.1.4') }));
    expect(plan.mode).toBe('drop-in');
    expect(plan.edits).toHaveLength(1);
    const d = plan.edits[0]!;
    expect(d.path).toBe(DROPIN);
    expect(d.after!.startsWith(OWNED_HEADER)).toBe(true);
    const parsed = parseToml(d.after!, 'dropin');
    expect(parsed.version).toBe(3n);
    expect(Object.keys(getTable(parsed, ['plugins'])!)).toEqual(['io.containerd.cri.v1.runtime']);
    // cloned from the *main* config's runc
    expect(flox(d.after!, 'io.containerd.cri.v1.runtime')).toMatchObject({
      runtime_type: 'io.containerd.runc.v2',
      sandboxer: 'podsandbox',
      pod_annotations: ['flox.dev/*'],
      options: { SystemdCgroup: true, BinaryName: BIN },
    });
  });

  it('uses options from an imported drop-in (2.x merges plugin tables)', () => {
    const other = "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = false\n";
    const plan = planContainerd(input({ mainText: main, version: v('2.1.4'), imported: [{ path: '/etc/containerd/conf.d/10-site.toml', text: other }] }));
    expect(flox(plan.edits[0]!.after!, 'io.containerd.cri.v1.runtime')?.options).toMatchObject({ SystemdCgroup: false });
  });

  it('edits the main file when conf.d is not imported', () => {
    const noImports = main.replace("imports = ['/etc/containerd/conf.d/*.toml']\n", '');
    const plan = planContainerd(input({ mainText: noImports, version: v('2.1.4') }));
    expect(plan.mode).toBe('main-file');
    expect(flox(plan.edits[0]!.after!, 'io.containerd.cri.v1.runtime')?.options).toMatchObject({ SystemdCgroup: true });
  });

  it('without a main file: drop-in on >= 2.2 (default imports), seeded main file before', () => {
    expect(planContainerd(input({ mainText: null, defaultText: main, version: v('2.2.0') })).mode).toBe('drop-in');
    expect(planContainerd(input({ mainText: null, defaultText: main, version: v('2.1.0') })).mode).toBe('main-file');
  });

  it('moves an earlier main-file block into the drop-in', () => {
    const noImports = main.replace("imports = ['/etc/containerd/conf.d/*.toml']\n", '');
    const withBlock = planContainerd(input({ mainText: noImports, version: v('2.1.4') })).edits[0]!.after!;
    const moved = withBlock.replace('version = 3\n', "version = 3\nimports = ['/etc/containerd/conf.d/*.toml']\n");
    const plan = planContainerd(input({ mainText: moved, version: v('2.1.4') }));
    expect(plan.mode).toBe('drop-in');
    expect(plan.edits.map((e) => e.path)).toEqual([DROPIN, MAIN]);
    expect(plan.edits[1]!.after).not.toContain('flox-runtime');
  });

  it('uninstall removes only a drop-in we own', () => {
    const owned = planContainerd(input({ mainText: main, version: v('2.1.4') })).edits[0]!.after!;
    expect(planContainerdUninstall({ mainPath: MAIN, mainText: main, seedText: null, dropinPath: DROPIN, dropinText: owned })).toEqual([
      expect.objectContaining({ path: DROPIN, after: null }),
    ]);
    expect(planContainerdUninstall({ mainPath: MAIN, mainText: main, seedText: null, dropinPath: DROPIN, dropinText: '# mine\n' })).toEqual([]);
  });
});

describe('cloneRuncRuntime', () => {
  it('prefers a runc-based default runtime, else runc, else bare runc', () => {
    const cfg = parseToml(
      `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "kata"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
  runtime_type = "io.containerd.kata.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
`,
      't',
    );
    expect(cloneRuncRuntime(cfg, 'io.containerd.grpc.v1.cri', BIN)).toMatchObject({ clonedFrom: 'runc', runtime: { options: { SystemdCgroup: true } } });
    expect(cloneRuncRuntime({}, 'io.containerd.grpc.v1.cri', BIN)).toEqual({
      clonedFrom: null,
      runtime: { runtime_type: 'io.containerd.runc.v2', pod_annotations: ['flox.dev/*'], options: { BinaryName: BIN } },
    });
  });
});

describe('configs the block cannot extend', () => {
  it('runtimes as an inline table: refused, because appending a [..runtimes.flox] table is invalid there', () => {
    const inline = `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  runtimes = { runc = { runtime_type = "io.containerd.runc.v2" } }
`;
    expect(() => planContainerd(input({ mainText: inline }))).toThrow(/after adding the flox handler\) is not valid TOML/);
  });
});
