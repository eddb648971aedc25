// The demo: a GitLab-style CI job pod whose Flox environment provides `hello`, started on a
// private containerd through the `flox` runtime handler (bin/flox-runtime), cold and then warm.
// Everything runs on this machine: FloxHub is a local git smart-HTTP hub, the binary cache is
// built by real Nix, containerd has its own root, state and socket. It cleans up after itself.
import { importTs } from './e2e/load-ts.mjs';

const { startFloxLab, BUSYBOX_IMAGE, EMPTY_IMAGE } = await importTs('scripts/demo-lab.ts');
const say = (s) => process.stdout.write(`${s}\n`);
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const ANNOTATIONS = {
  'flox.dev/environment': 'public-owner/gitlab',
  'flox.dev/activate-mode': 'dev',
  'flox.dev/skip-containers': 'init-permissions,helper',
  'flox.dev/skip-containers-exec': 'build',
};
// GitLab's Kubernetes executor starts the build container with its shell detection
const DETECT =
  'if [ -x /usr/local/bin/bash ]; then exec /usr/local/bin/bash -c "$JOB"; elif [ -x /usr/bin/bash ]; then exec /usr/bin/bash -c "$JOB"; ' +
  'elif [ -x /bin/bash ]; then exec /bin/bash -c "$JOB"; elif [ -x /bin/sh ]; then exec /bin/sh -c "$JOB"; else echo shell not found; exit 1; fi';
const JOB = 'echo "job running in $FLOX_ENV_DESCRIPTION (mode dev, CI_TOOLCHAIN=$CI_TOOLCHAIN)"; hello; command -v hello';

say(bold('== starting a local FloxHub, a Nix binary cache and a private containerd with the flox handler'));
const f = await startFloxLab();
let failed = false;
const cleanup = async () => {
  const problems = await f.stop();
  if (problems.length) say(`cleanup problems: ${problems.join('; ')}`);
};
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
try {
  say(`   FloxHub  ${f.hub.gitUrl}   binary cache ${f.hub.url}/cache-zstd   containerd ${f.lab.socket}`);
  const k = f.lab.kubelet;
  for (const label of ['cold (empty node store)', 'warm (environment already on the node)']) {
    say(bold(`\n== GitLab job pod, ${label}`));
    const t0 = performance.now();
    await k.withPod({ name: 'runner-demo', handler: 'flox', annotations: ANNOTATIONS, namespace: 'gitlab' }, async (pod) => {
      const init = await k.run(pod, { name: 'init-permissions', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo init-permissions: untouched, FLOX_ENV=${FLOX_ENV:-unset}'] });
      await k.waitForExit(init);
      const tBuild = performance.now();
      const build = await k.run(pod, { name: 'build', image: EMPTY_IMAGE, command: ['sh', '-c', DETECT], env: { JOB } });
      const first = await k.waitForLog(build, () => true, { timeoutMs: 120_000 });
      const firstLine = first.timeMs - (Date.now() - (performance.now() - tBuild));
      const status = await k.waitForExit(build, 120_000);
      say(`   image ${EMPTY_IMAGE} (zero layers), command from the environment; container log:`);
      for (const l of k.readLog(init)) say(`   | ${l.line}`);
      for (const l of k.readLog(build)) say(`   | ${l.line}`);
      const a = f.activations().at(-1) ?? {};
      say(`   build container: exit ${status.exit_code}; StartContainer to first log line ${Math.max(0, firstLine).toFixed(0)} ms; pod total ${(performance.now() - t0).toFixed(0)} ms`);
      say(`   activation: generation ${a.generation}, ${a.paths} store paths (${a.pathsFetched} fetched, ${a.bytesFetched} bytes), profile ${a.rendered}, phases ${JSON.stringify(a.phasesMs)}`);
      if (status.exit_code !== 0) failed = true;
    });
  }
} catch (e) {
  failed = true;
  say(`demo failed: ${e?.details ?? e?.stack ?? e}`);
} finally {
  say(bold('\n== cleaning up'));
  await cleanup();
}
say(failed ? 'demo FAILED' : 'demo done');
process.exit(failed ? 1 : 0);
