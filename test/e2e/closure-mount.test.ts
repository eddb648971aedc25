// runtime.store-mount = "closure": a container sees only its environment's store paths, each
// mounted read-only on its own, instead of the whole node store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('closure-only store mounts');

describe.skipIf(gate.skip)(gate.title, () => {
  let f: FloxLab;
  beforeAll(async () => {
    f = await startFloxLab({ runtime: { 'store-mount': '"closure"' } });
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
  });

  async function run(env: string, command: string[], annotations: Record<string, string> = {}) {
    return f.lab.kubelet.withPod({ name: `closure-${Math.random().toString(36).slice(2, 8)}`, handler: 'flox', annotations: { 'flox.dev/environment': env, ...annotations } }, async (pod) => {
      const c = await f.lab.kubelet.run(pod, { name: 'app', image: EMPTY_IMAGE, command });
      await f.lab.kubelet.waitForExit(c);
      return f.lab.kubelet.readLog(c).map((l) => l.line);
    });
  }

  it('mounts exactly the closure (plus the shell for an empty image), and other environments stay invisible', async () => {
    // put another environment's paths on the node first
    expect(await run('public-owner/priority', ['tool'])).toEqual(['tool-b']);
    const lines = await run('public-owner/hello', ['sh', '-c', 'hello; ls /nix/store'], { 'flox.dev/disable-metrics': 'true' });
    expect(lines[0]).toBe('Hello, world!');
    const listed = lines.slice(1).sort();
    const closure = f.activations().at(-1)!.paths as number;
    expect(listed).toHaveLength(closure);
    expect(listed.some((p) => p.includes('-tool-'))).toBe(false);
    expect(listed.some((p) => p.includes('-hello-'))).toBe(true);
  });

  it('sets FLOX_CONTAINERD, and FLOX_DISABLE_METRICS only when asked', async () => {
    const cmd = ['sh', '-c', 'echo "${FLOX_CONTAINERD:-unset} ${FLOX_DISABLE_METRICS:-unset}"'];
    expect(await run('public-owner/hello', cmd)).toEqual(['1 unset']);
    expect(await run('public-owner/hello', cmd, { 'flox.dev/disable-metrics': 'true' })).toEqual(['1 1']);
  });
});
