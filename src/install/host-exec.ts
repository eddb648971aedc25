// Running a command on the host: directly when the installer runs on the node, through PID 1's
// namespaces when it runs in a DaemonSet pod with hostPID (the pod's own mount namespace has no
// systemctl or containerd), or chrooted into a mounted host root. Always argv arrays.
import { execa } from 'execa';

export type HostExecMode = 'direct' | 'nsenter' | 'chroot';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type Exec = (argv: string[], opts?: { timeoutMs?: number }) => Promise<ExecResult>;

export function hostArgv(mode: HostExecMode, hostRoot: string, argv: string[]): string[] {
  if (mode === 'nsenter') return ['nsenter', '--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--', ...argv];
  if (mode === 'chroot') return ['chroot', hostRoot, ...argv];
  return argv;
}

export function makeHostExec(mode: HostExecMode, hostRoot: string): Exec {
  return async (argv, opts) => {
    const [file, ...args] = hostArgv(mode, hostRoot, argv);
    try {
      const r = await execa(file!, args, {
        reject: false,
        stdin: 'ignore',
        timeout: opts?.timeoutMs ?? 120_000,
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
        extendEnv: false,
      });
      return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    } catch (e) {
      return { exitCode: 127, stdout: '', stderr: (e as Error).message };
    }
  };
}

export function defaultHostExecMode(hostRoot: string): HostExecMode {
  return hostRoot === '/' ? 'direct' : 'nsenter';
}
