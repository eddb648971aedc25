// What scripts/e2e/lab.mjs needs from the test harness, in one module to bundle.
import { join } from 'node:path';
import { readLabRecord } from '../../test/e2e/support/containerd.js';
import { CriClient, CriError, Kubelet, type LogLine, type MountOptions } from '../../test/e2e/support/cri.js';

export { listLabs, reapStaleLabs, startLab, teardownLab } from '../../test/e2e/support/containerd.js';
export { BUSYBOX_IMAGE, EMPTY_IMAGE } from '../../test/e2e/support/images.js';
export { passThroughScript } from '../../test/e2e/support/runtimes.js';

export interface RunOnceOptions {
  handler: string;
  name: string;
  annotations: Record<string, string>;
  image: string;
  command: string[];
  env: Record<string, string>;
  mounts: MountOptions[];
  timeoutMs: number;
}

export interface RunOnceResult {
  exitCode: number;
  log: LogLine[];
  /** The CRI error of RunPodSandbox/StartContainer (what kubelet would show), if any. */
  error?: string;
}

/** One pod, one container, run to completion in the lab at `dir`; the pod is removed after. */
export async function runOnce(dir: string, o: RunOnceOptions): Promise<RunOnceResult> {
  const rec = readLabRecord(dir);
  if (!rec) throw new Error(`no lab at ${dir}`);
  const client = new CriClient(`unix://${rec.socket}`);
  const k = new Kubelet(client, { podLogRoot: join(dir, 'pods'), cgroupRoot: rec.cgroupRoot });
  try {
    return await k.withPod({ name: o.name, handler: o.handler, annotations: o.annotations }, async (pod) => {
      const c = await k.createContainer(pod, {
        name: o.name,
        image: o.image,
        ...(o.command.length ? { command: o.command } : {}),
        env: o.env,
        mounts: o.mounts,
      });
      try {
        await k.startContainer(c);
      } catch (e) {
        if (e instanceof CriError) return { exitCode: 128, log: k.readLog(c), error: e.details };
        throw e;
      }
      const st = await k.waitForExit(c, o.timeoutMs);
      return { exitCode: st.exit_code, log: k.readLog(c) };
    });
  } catch (e) {
    if (e instanceof CriError && e.method === 'RunPodSandbox') return { exitCode: 128, log: [], error: e.details };
    throw e;
  } finally {
    client.close();
  }
}
