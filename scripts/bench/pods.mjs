// Runs scripts/bench/pods.ts (bundled on the fly; needs root, containerd, runc, nix-bin).
import { importTs } from '../e2e/load-ts.mjs';

if (process.getuid?.() !== 0) {
  console.log('pods benchmark skipped: needs root (a private containerd)');
  process.exit(0);
}
const { benchPods } = await importTs('scripts/bench/pods.ts');
await benchPods();
