// The pod's token is read as root from a volume the pod may shape at will: each attack below
// mounts a directory at /var/run/secrets/flox.dev holding a `floxhub-token` that is not a token
// the pod holds itself, and must get a flox: error (never another file's contents, never a
// hang, never the node token). Only pickToken and podTokenFileFromMounts are used, as the
// runtime uses them.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { isFloxError } from '../../../src/errors.js';
import { pickToken, podTokenFileFromMounts } from '../../../src/floxhub/token.js';

const base = mkdtempSync(join(tmpdir(), 'pod-token-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** Another pod's secret and a node token, outside the attacker's volume. */
const outside = join(base, 'other-pod');
mkdirSync(outside);
writeFileSync(join(outside, 'floxhub-token'), 'stolen-token\n');
const nodeToken = join(base, 'node-token');
writeFileSync(nodeToken, 'node-token\n');

/** A fresh directory, as the source of a volume the pod mounts at /var/run/secrets/flox.dev. */
function volume(): string {
  const d = join(base, `vol-${++n}`);
  mkdirSync(d);
  return d;
}
const dirMount = (source: string) => podTokenFileFromMounts([{ destination: '/var/run/secrets/flox.dev', source, type: 'bind' }]);
const fileMount = (source: string) => podTokenFileFromMounts([{ destination: '/var/run/secrets/flox.dev/floxhub-token', source, type: 'bind' }]);
const pick = (source: string, configTokenFile: string | undefined = nodeToken) => pickToken({ podTokenFile: dirMount(source), configTokenFile });

/** The flox: error pickToken throws (fails the test when it returns instead). */
function refusal(fn: () => unknown): string {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    expect(isFloxError(e)).toBe(true);
    const m = (e as Error).message;
    expect(m).not.toMatch(/stolen|node-token/);
    return m;
  }
  throw new Error(`no error: ${JSON.stringify(r)}`);
}

describe('tokens the pod holds itself', () => {
  it('a kubelet secret volume (floxhub-token -> ..data/floxhub-token, ..data -> ..<timestamp>) gives the pod token', () => {
    const v = volume();
    mkdirSync(join(v, '..2026_12_04_10_00_00.123456789'));
    writeFileSync(join(v, '..2026_12_04_10_00_00.123456789', 'floxhub-token'), 'pod-token\n');
    symlinkSync('..2026_12_04_10_00_00.123456789', join(v, '..data'));
    symlinkSync('..data/floxhub-token', join(v, 'floxhub-token'));
    expect(pick(v)).toEqual({ token: 'pod-token', source: 'pod' });
  });

  it('a plain read-only directory (podman -v, hostPath) gives the pod token', () => {
    const v = volume();
    writeFileSync(join(v, 'floxhub-token'), 'pod-token');
    chmodSync(join(v, 'floxhub-token'), 0o400);
    chmodSync(v, 0o555);
    expect(pick(v)).toEqual({ token: 'pod-token', source: 'pod' });
  });

  it('a subPath mount of the key itself gives the pod token', () => {
    const v = volume();
    writeFileSync(join(v, 'file'), 'pod-token\n');
    expect(pickToken({ podTokenFile: fileMount(join(v, 'file')), configTokenFile: nodeToken })).toEqual({ token: 'pod-token', source: 'pod' });
  });

  it('links that stay inside the volume are followed, `..` included, and an absolute one naming the volume', () => {
    const v = volume();
    mkdirSync(join(v, 'a/b'), { recursive: true });
    writeFileSync(join(v, 'a/real'), 'pod-token');
    symlinkSync('../real', join(v, 'a/b/up'));
    symlinkSync('a/b/up', join(v, 'floxhub-token'));
    expect(pick(v).token).toBe('pod-token');
    const w = volume();
    writeFileSync(join(w, 'real'), 'pod-token');
    symlinkSync(join(w, 'real'), join(w, 'floxhub-token'));
    expect(pick(w).token).toBe('pod-token');
  });

  it('no floxhub-token in the volume, or no volume, is no pod token: the node token applies', () => {
    expect(pick(volume())).toEqual({ token: 'node-token', source: 'config' });
    expect(pickToken({ podTokenFile: dirMount(join(base, 'no-such-dir')), configTokenFile: nodeToken })).toEqual({ token: 'node-token', source: 'config' });
    expect(pickToken({ podTokenFile: undefined, configTokenFile: nodeToken })).toEqual({ token: 'node-token', source: 'config' });
    expect(pickToken({ podTokenFile: undefined })).toEqual({ source: 'none' });
  });
});

describe('what a pod may not hand over as its token', () => {
  it('a link to another pod\'s secret or the node token: refused, with one message wherever it points', () => {
    const messages = [join(outside, 'floxhub-token'), nodeToken, '/etc/shadow', '/no/such/path', `../${basename(outside)}/floxhub-token`, '../../../../../../etc/passwd'].map((target) => {
      const v = volume();
      symlinkSync(target, join(v, 'floxhub-token'));
      return refusal(() => pick(v));
    });
    expect(messages[0]).toMatch(/^the pod's FloxHub token \(floxhub-token in the volume mounted at \/var\/run\/secrets\/flox\.dev\) is a symbolic link that leads outside its volume/);
    expect(new Set(messages).size).toBe(1); // nothing tells whether the target exists
  });

  it('a link chain that leaves the volume and comes back is refused (the way out is never looked up)', () => {
    const v = volume();
    writeFileSync(join(v, 'real'), 'pod-token');
    symlinkSync(`../${basename(v)}/real`, join(v, 'floxhub-token'));
    expect(refusal(() => pick(v))).toMatch(/leads outside its volume/);
    const w = volume();
    writeFileSync(join(w, 'real'), 'pod-token');
    symlinkSync(`${outside}/../${basename(w)}/real`, join(w, 'floxhub-token'));
    expect(refusal(() => pick(w))).toMatch(/leads outside its volume/);
  });

  it('`..` tricks: a linked directory pointing out, a walk above the volume through a real directory', () => {
    const v = volume();
    symlinkSync(outside, join(v, 'sub'));
    symlinkSync('sub/floxhub-token', join(v, 'floxhub-token'));
    expect(refusal(() => pick(v))).toMatch(/leads outside its volume/);
    const w = volume();
    mkdirSync(join(w, 'd'));
    symlinkSync(`d/../../${basename(outside)}/floxhub-token`, join(w, 'floxhub-token'));
    expect(refusal(() => pick(w))).toMatch(/leads outside its volume/);
    const x = volume();
    mkdirSync(join(x, '..data'));
    symlinkSync(`../../${basename(outside)}`, join(x, '..data', 'up'));
    symlinkSync('..data/up/floxhub-token', join(x, 'floxhub-token'));
    expect(refusal(() => pick(x))).toMatch(/leads outside its volume/);
  });

  it('a FIFO fails at once instead of hanging create', async () => {
    const v = volume();
    const fifo = join(v, 'floxhub-token');
    await new Promise<void>((res, rej) => spawn('mkfifo', [fifo]).on('exit', (c) => (c === 0 ? res() : rej(new Error(`mkfifo ${c}`)))));
    // a writer that only comes after 3 s: the old code, blocked in open(2), then gets its token
    const writer = spawn('sh', ['-c', 'sleep 3; echo fifo-token > "$1"', 'sh', fifo], { stdio: 'ignore' });
    try {
      const t0 = performance.now();
      expect(refusal(() => pick(v))).toMatch(/is a FIFO, not a regular file/);
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('/dev/zero mounted at the key, and a link to it, are refused without reading', () => {
    expect(refusal(() => pickToken({ podTokenFile: fileMount('/dev/zero'), configTokenFile: nodeToken }))).toMatch(/is a character device, not a regular file/);
    const v = volume();
    symlinkSync('/dev/zero', join(v, 'floxhub-token'));
    expect(refusal(() => pick(v))).toMatch(/leads outside its volume/);
  });

  it('a directory, a dangling link inside, a link loop', () => {
    const v = volume();
    mkdirSync(join(v, 'floxhub-token'));
    expect(refusal(() => pick(v))).toMatch(/is a directory, not a regular file/);
    const w = volume();
    symlinkSync('..data/floxhub-token', join(w, 'floxhub-token'));
    expect(refusal(() => pick(w))).toMatch(/is a symbolic link to nothing in its volume/);
    const x = volume();
    symlinkSync('floxhub-token', join(x, 'floxhub-token'));
    expect(refusal(() => pick(x))).toMatch(/too many symbolic links/);
  });

  it('a 1 MiB file is refused; 64 KiB is the limit', () => {
    const v = volume();
    writeFileSync(join(v, 'floxhub-token'), Buffer.alloc(1024 * 1024, 'a'));
    expect(refusal(() => pick(v))).toMatch(/is larger than 64 KiB/);
    const w = volume();
    writeFileSync(join(w, 'floxhub-token'), Buffer.alloc(64 * 1024, 'b'));
    expect(pick(w).token).toHaveLength(64 * 1024);
  });

  it('a pod that swaps ..data between its own directory and another pod\'s, as fast as it can, never gets the other token', async () => {
    const v = volume();
    mkdirSync(join(v, '..mine'));
    writeFileSync(join(v, '..mine', 'floxhub-token'), 'pod-token');
    symlinkSync('..mine', join(v, '..data'));
    symlinkSync('..data/floxhub-token', join(v, 'floxhub-token'));
    // a thread of its own renames a link to the volume's own dir, then one to the other pod's, over ..data
    const swapper = new Worker(
      `const fs = require('node:fs'); const { workerData: w } = require('node:worker_threads');
       for (let i = 0; ; i++) {
         const tmp = w.v + '/..tmp';
         fs.rmSync(tmp, { force: true });
         fs.symlinkSync(i % 2 ? '..mine' : w.outside, tmp);
         fs.renameSync(tmp, w.v + '/..data');
       }`,
      { eval: true, workerData: { v, outside } },
    );
    const seen = { mine: 0, stolen: 0, refused: 0 };
    try {
      await new Promise((r) => setTimeout(r, 50));
      // at least 3000 reads, and on a busy machine on until both states were seen (at most 5 s)
      const end = performance.now() + 5000;
      for (let i = 0; i < 3000 || ((seen.mine === 0 || seen.refused === 0) && performance.now() < end); i++) {
        try {
          const t = pick(v).token;
          if (t === 'pod-token') seen.mine++;
          else if (t === 'stolen-token') seen.stolen++;
        } catch (e) {
          if (!isFloxError(e)) throw e;
          seen.refused++;
        }
      }
    } finally {
      await swapper.terminate();
    }
    expect(seen.stolen).toBe(0);
    expect(seen.mine).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });

  it('an unusable pod token never falls back to the node token', () => {
    const v = volume();
    symlinkSync(nodeToken, join(v, 'floxhub-token'));
    expect(refusal(() => pick(v, nodeToken))).toMatch(/leads outside its volume/);
  });
});

describe('the node-wide floxhub.token-file', () => {
  it('is read through links (the operator\'s choice), and bounded: a huge file or a FIFO is a flox: error', async () => {
    const d = volume();
    symlinkSync(nodeToken, join(d, 'link'));
    expect(pickToken({ configTokenFile: join(d, 'link') })).toEqual({ token: 'node-token', source: 'config' });
    writeFileSync(join(d, 'big'), Buffer.alloc(1024 * 1024, 'a'));
    expect(() => pickToken({ configTokenFile: join(d, 'big') })).toThrow(/token file .*big is larger than 64 KiB/);
    await new Promise<void>((res) => spawn('mkfifo', [join(d, 'fifo')]).on('exit', () => res()));
    const t0 = performance.now();
    expect(() => pickToken({ configTokenFile: join(d, 'fifo') })).toThrow(/is a FIFO/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(pickToken({ configTokenFile: join(d, 'missing') })).toEqual({ source: 'none' });
  });
});
