// Local OCI images for the e2e lab, built without a registry, docker or buildkit: a
// single-platform OCI image-layout tar that `ctr -n k8s.io images import` (containerd 1.6)
// accepts. Layout rules are in /work/shared/research/cri.md §3 (oci-layout file mandatory,
// fully qualified io.containerd.image.name, zero layers allowed).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir, supportFile, which } from './paths.js';

export const PAUSE_IMAGE = 'localhost/flox-runtime/pause:1';
export const BUSYBOX_IMAGE = 'localhost/flox-runtime/busybox:1';
export const EMPTY_IMAGE = 'docker.io/flox/empty:1.0.0';

/** An image tar ready for `ctr images import`. */
export interface ImageTar {
  name: string;
  tar: string;
}

export interface LayoutOptions {
  /** Full reference, e.g. docker.io/flox/empty:1.0.0 (CRI cannot find short names, P9). */
  name: string;
  out: string;
  /** Directory that becomes the only layer; omitted = zero layers. */
  rootfs?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
// Reproducible tar entries: sorted, root-owned, fixed mtime.
const TAR_FLAGS = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0'];

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Moves `file` into blobs/sha256/ under its digest. */
async function putBlob(blobs: string, file: string, mediaType: string): Promise<Descriptor> {
  const digest = await sha256File(file);
  const { size } = await stat(file);
  await rename(file, join(blobs, digest.slice('sha256:'.length)));
  return { mediaType, digest, size };
}

async function putJson(blobs: string, work: string, value: unknown, mediaType: string): Promise<Descriptor> {
  const file = join(work, `${randomBytes(6).toString('hex')}.json`);
  await writeFile(file, JSON.stringify(value));
  return putBlob(blobs, file, mediaType);
}

/** Writes an OCI image-layout tar (atomically: a reader never sees a half-written `out`). */
export async function writeOciLayoutTar(opts: LayoutOptions): Promise<ImageTar> {
  const work = await mkdtemp(`${opts.out}.work-`);
  try {
    const layout = join(work, 'layout');
    const blobs = join(layout, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    if (opts.rootfs !== undefined) {
      const layer = join(work, 'layer.tar');
      await execa('tar', [...TAR_FLAGS, '-C', opts.rootfs, '-cf', layer, '.']);
      const d = await putBlob(blobs, layer, LAYER_TYPE);
      layers.push(d);
      diffIds.push(d.digest); // uncompressed layer: diff_id = digest
    }
    const imageConfig: Record<string, unknown> = { Env: opts.env ?? DEFAULT_ENV };
    if (opts.entrypoint) imageConfig.Entrypoint = opts.entrypoint;
    if (opts.cmd) imageConfig.Cmd = opts.cmd;
    const config = await putJson(
      blobs,
      work,
      { architecture: 'amd64', os: 'linux', config: imageConfig, rootfs: { type: 'layers', diff_ids: diffIds } },
      CONFIG_TYPE,
    );
    const manifest = await putJson(
      blobs,
      work,
      { schemaVersion: 2, mediaType: MANIFEST_TYPE, config, layers },
      MANIFEST_TYPE,
    );
    const tag = opts.name.slice(opts.name.lastIndexOf(':') + 1);
    const index = {
      schemaVersion: 2,
      manifests: [
        {
          ...manifest,
          annotations: { 'io.containerd.image.name': opts.name, 'org.opencontainers.image.ref.name': tag },
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    };
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const tmp = join(work, 'image.tar');
    await execa('tar', [...TAR_FLAGS, '-C', layout, '-cf', tmp, 'oci-layout', 'index.json', 'blobs']);
    await rename(tmp, opts.out);
    return { name: opts.name, tar: opts.out };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buildPause(work: string, out: string): Promise<ImageTar> {
  const rootfs = join(work, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  await execa('gcc', ['-Os', '-static', '-s', '-o', join(rootfs, 'pause'), supportFile('pause.c')]);
  return writeOciLayoutTar({ name: PAUSE_IMAGE, out, rootfs, entrypoint: ['/pause'], env: [] });
}

async function buildBusybox(work: string, out: string): Promise<ImageTar> {
  const busybox = which('busybox');
  if (!busybox) throw new Error('busybox not found (apt-get install busybox-static)');
  const bin = join(work, 'rootfs', 'bin');
  await mkdir(bin, { recursive: true });
  await copyFile(busybox, join(bin, 'busybox'));
  await chmod(join(bin, 'busybox'), 0o755);
  const { stdout } = await execa(busybox, ['--list']);
  for (const applet of stdout.split('\n')) {
    if (applet && applet !== 'busybox' && !applet.includes('/')) await symlink('busybox', join(bin, applet));
  }
  // /tmp for tests that write files; the rest of the FHS is not needed by busybox applets
  await mkdir(join(work, 'rootfs', 'tmp'), { mode: 0o1777 });
  await chmod(join(work, 'rootfs', 'tmp'), 0o1777);
  return writeOciLayoutTar({ name: BUSYBOX_IMAGE, out, rootfs: join(work, 'rootfs'), cmd: ['sh'], env: ['PATH=/bin'] });
}

async function buildEmpty(_work: string, out: string): Promise<ImageTar> {
  return writeOciLayoutTar({ name: EMPTY_IMAGE, out });
}

// Bump a recipe's version when its output changes, so cached tars are rebuilt.
const RECIPES = [
  { file: 'pause-v1.tar', build: buildPause },
  { file: 'busybox-v1.tar', build: buildBusybox },
  { file: 'empty-v1.tar', build: buildEmpty },
] as const;

const NAMES: Record<(typeof RECIPES)[number]['file'], string> = {
  'pause-v1.tar': PAUSE_IMAGE,
  'busybox-v1.tar': BUSYBOX_IMAGE,
  'empty-v1.tar': EMPTY_IMAGE,
};

export interface EnsureImagesOptions {
  /** Where the tars are cached; default <repo>/.cache/e2e/images or $FLOX_E2E_CACHE/images. */
  dir?: string;
  /** Rebuild even when a cached tar exists. */
  rebuild?: boolean;
}

/**
 * Builds (only when missing) the three lab images: pause (sandbox_image), busybox and the
 * zero-layer flox/empty. Safe when several processes call it at once: each builds in its own
 * temp dir and renames into place.
 */
export async function ensureImages(opts: EnsureImagesOptions = {}): Promise<ImageTar[]> {
  const dir = opts.dir ?? join(cacheDir(), 'images');
  await mkdir(dir, { recursive: true });
  const out: ImageTar[] = [];
  for (const r of RECIPES) {
    const tar = join(dir, r.file);
    if (!opts.rebuild && existsSync(tar)) {
      out.push({ name: NAMES[r.file], tar });
      continue;
    }
    const work = await mkdtemp(join(dir, `.build-${r.file}-`));
    try {
      out.push(await r.build(work, tar));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return out;
}
