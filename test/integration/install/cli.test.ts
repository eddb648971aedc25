// The commander wiring the core's main program mounts: options reach the installer, output is
// the report (human or --json), failures exit non-zero with the FloxError text.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerInstallCommands } from '../../../src/cli/commands/install.js';
import { fakeSource, rmrf, snapshot, tempDir, writeFile } from './support.js';

const FIX = join(import.meta.dirname, '../../unit/install/fixtures');
const cleanup: (() => void)[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  while (cleanup.length) cleanup.pop()!();
});

async function run(args: string[]): Promise<{ out: string; err: string; exit: number | undefined }> {
  let out = '';
  let err = '';
  let exit: number | undefined;
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
    exit = code;
    throw new Error(`exit ${code}`);
  }) as never);
  const program = new Command('flox-runtime').exitOverride();
  registerInstallCommands(program);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (!String((e as Error).message).startsWith('exit')) throw e;
  }
  vi.restoreAllMocks();
  return { out, err, exit };
}

function host() {
  const h = tempDir('cli');
  const src = fakeSource(tempDir('clisrc'));
  cleanup.push(() => rmrf(h), () => rmrf(src));
  writeFile(join(h, 'etc/containerd/config.toml'), readFileSync(join(FIX, 'containerd-1.7.toml')));
  const common = ['--host-root', h, '--runtime', 'containerd', '--containerd-version', '1.7.22', '--no-restart'];
  return { h, src, common };
}

describe('flox-runtime install / uninstall (CLI)', () => {
  it('--dry-run --json prints the plan and writes nothing', async () => {
    const { h, src, common } = host();
    const before = snapshot(h);
    const r = await run(['install', ...common, '--source', src, '--node', 'none', '--dry-run', '--json']);
    expect(r.exit).toBeUndefined();
    const report = JSON.parse(r.out) as { dryRun: boolean; changes: { action: string }[]; diff: string };
    expect(report.dryRun).toBe(true);
    expect(report.changes.length).toBeGreaterThan(0);
    expect(report.diff).toContain('runtimes.flox');
    expect(snapshot(h)).toEqual(before);
  });

  it('install then uninstall, human output', async () => {
    const { h, src, common } = host();
    const before = snapshot(h);
    const i = await run(['install', ...common, '--source', src, '--node', 'none']);
    expect(i.out).toMatch(/^runtime-config\s+changed/m);
    expect(i.out).toMatch(/^label\s+skipped/m);
    const u = await run(['uninstall', ...common]);
    expect(u.out).toMatch(/^runtime-config\s+changed/m);
    expect(snapshot(h)).toEqual(before);
  });

  it('a malformed config exits 1 with the reason on stderr', async () => {
    const { h, src, common } = host();
    writeFile(join(h, 'etc/containerd/config.toml'), 'version = 2\n[plugins\n');
    const r = await run(['install', ...common, '--source', src, '--node', 'none']);
    expect(r.exit).toBe(1);
    expect(r.err).toMatch(/^flox-runtime: \/etc\/containerd\/config\.toml is not valid TOML/);
  });

  it('rejects an unknown --runtime', async () => {
    const { h, src } = host();
    const r = await run(['install', '--host-root', h, '--runtime', 'docker', '--source', src]);
    expect(r.exit).toBe(2);
    expect(r.err).toMatch(/--runtime must be one of/);
  });
});
