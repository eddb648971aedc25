// `flox-runtime install` / `uninstall`: node setup as idempotent stages (src/install/).
// Output goes to stdout/stderr normally here: these are operator commands, never run by
// containerd, so the create/exec silence rule does not apply.
import type { Command } from 'commander';
import { FloxError, isFloxError } from '../../errors.js';
import { install, uninstall, type InstallOptions, type Report } from '../../install/installer.js';
import { runDaemon } from '../../install/daemon.js';
import type { RuntimeKind } from '../../install/types.js';

interface CliOpts {
  hostRoot: string;
  installRoot: string;
  runtime: string;
  containerdConfig?: string;
  containerdVersion?: string;
  criSocket?: string;
  source?: string;
  node: string;
  hostExec?: string;
  dryRun?: boolean;
  restart: boolean;
  json?: boolean;
  daemon?: boolean;
  readyFile?: string;
}

const RUNTIMES = ['containerd', 'k3s', 'rke2', 'crio', 'auto'];

function toOptions(c: CliOpts): InstallOptions {
  if (!RUNTIMES.includes(c.runtime)) throw new FloxError('usage', `--runtime must be one of ${RUNTIMES.join('|')}`);
  if (c.hostExec && !['direct', 'nsenter', 'chroot'].includes(c.hostExec)) throw new FloxError('usage', '--host-exec must be direct|nsenter|chroot');
  const node = c.node === 'auto' || c.node === 'copy' || c.node === 'none' ? c.node : { path: c.node };
  return {
    hostRoot: c.hostRoot,
    installRoot: c.installRoot,
    runtime: c.runtime as RuntimeKind | 'auto',
    containerdConfig: c.containerdConfig,
    containerdVersion: c.containerdVersion,
    criSocket: c.criSocket,
    source: c.source,
    node,
    hostExec: c.hostExec as InstallOptions['hostExec'],
    dryRun: !!c.dryRun,
    restart: c.restart,
  };
}

function print(report: Report, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  if (report.dryRun) {
    lines.push(report.diff ? `# ${report.action} --dry-run: planned changes` : `# ${report.action} --dry-run: nothing to change`);
    if (report.diff) lines.push(report.diff, '');
  }
  for (const s of report.stages) lines.push(`${s.stage.padEnd(15)} ${s.status.padEnd(9)} ${s.detail}`);
  for (const n of report.notes) lines.push(`note: ${n}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function fail(e: unknown, json: boolean): never {
  const msg = isFloxError(e) ? e.message : `internal error: ${(e as Error).stack ?? String(e)}`;
  if (json) process.stdout.write(`${JSON.stringify({ error: msg, kind: isFloxError(e) ? e.kind : 'internal' })}\n`);
  process.stderr.write(`flox-runtime: ${msg}\n`);
  // 2 for usage errors, like the other operator commands
  process.exit(isFloxError(e) && e.kind === 'usage' ? 2 : 1);
}

function common(cmd: Command): Command {
  return cmd
    .option('--host-root <dir>', "where the host's / is mounted (DaemonSet: /host)", '/')
    .option('--install-root <dir>', 'install root as the host sees it', '/opt/flox-runtime')
    .option('--runtime <kind>', 'containerd|k3s|rke2|crio|auto', 'auto')
    .option('--containerd-config <path>', "containerd's main config (host path)")
    .option('--containerd-version <v>', "containerd's version, instead of asking `containerd --version`")
    .option('--cri-socket <path>', 'CRI socket to verify against (installer view)')
    .option('--host-exec <mode>', 'how to run systemctl/containerd on the host: direct|nsenter|chroot')
    .option('--dry-run', 'print the planned changes as a diff and change nothing')
    .option('--no-restart', 'do not restart the runtime (and so do not verify or label)')
    .option('--json', 'print the report as JSON');
}

export function registerInstallCommands(program: Command): void {
  common(program.command('install').description('install the flox runtime handler on this node (idempotent)'))
    .option('--source <dir>', 'directory holding bin/flox-runtime and dist/ (default: this package)')
    .option('--node <auto|copy|none|path>', 'Node binary for bin/flox-runtime: copy this one, none, or a host path', 'auto')
    .option('--daemon', 'install, then wait for SIGTERM and clean up only if the DaemonSet no longer selects this node')
    .option('--ready-file <path>', 'with --daemon: file written once installed (readiness probe)')
    .action(async (c: CliOpts) => {
      const json = !!c.json;
      try {
        const opts = toOptions(c);
        if (c.daemon) {
          if (opts.dryRun) throw new FloxError('usage', '--daemon and --dry-run exclude each other');
          const emit = (ev: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...ev })}\n`);
          // on the node itself this very CLI can pull; in a pod, hostCli() runs the installed one on the host
          const cli = opts.hostRoot === '/' ? [process.execPath, process.argv[1]!] : undefined;
          await runDaemon({ ...opts, cli, readyFile: c.readyFile, emit });
          return;
        }
        print(await install(opts), json);
      } catch (e) {
        fail(e, json);
      }
    });
  common(program.command('uninstall').description('remove the flox runtime handler from this node, restoring the previous config')).action(
    async (c: CliOpts) => {
      const json = !!c.json;
      try {
        print(await uninstall(toOptions({ ...c, node: 'none' })), json);
      } catch (e) {
        fail(e, json);
      }
    },
  );
}
