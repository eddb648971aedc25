// What the demo needs, bundled on the fly by scripts/e2e/load-ts.mjs: the e2e lab (private
// containerd + kubelet-style CRI client) and the local FloxHub with its real Nix binary cache.
export { startFloxLab } from '../test/e2e/support/flox-lab.js';
export { BUSYBOX_IMAGE, EMPTY_IMAGE } from '../test/e2e/support/images.js';
