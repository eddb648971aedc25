// NAR streams from a hostile substituter: escapes by "..", absolute or slashed names, symlinks
// that a later entry would write through, and random or mutated archives. unpackNar either
// builds the tree inside its target or throws a FloxError; it never writes outside the target
// (a canary next to it stays alone) and never hangs.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloxError } from '../../src/errors.js';
import { unpackNar } from '../../src/nix/index.js';
import { chunked, nar, str, strs, type Tree } from '../support/nix-nar.js';
import { ensureNixFixture, type NixFixture } from '../support/nixcache.js';

const RUNS = Number(process.env.FLOX_PROPERTY_RUNS ?? 300);
const tmp = mkdtempSync('/tmp/hostile-nar-');
let fx: NixFixture;
let realNars: Buffer[] = [];
let n = 0;

beforeAll(async () => {
  fx = await ensureNixFixture();
  const dir = join(fx.caches.none!, 'nar');
  realNars = readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)))
    .filter((b) => b.length < 64 * 1024)
    .slice(0, 8);
}, 240_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh sandbox: <box>/out is the target, <box>/canary and the box itself must stay as they are. */
function box() {
  const dir = join(tmp, `box${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'canary'), 'untouched');
  return { dir, out: join(dir, 'out') };
}
function untouched(b: { dir: string }) {
  expect(readdirSync(b.dir).sort()).toEqual(expect.arrayContaining(['canary']));
  expect(readdirSync(b.dir).filter((e) => e !== 'canary' && e !== 'out')).toEqual([]);
  expect(readFileSync(join(b.dir, 'canary'), 'utf8')).toBe('untouched');
  expect(existsSync('/tmp/flox-hostile-escape')).toBe(false);
}

async function attempt(bytes: Buffer, narSize = bytes.length, chunk = 13) {
  const b = box();
  const t0 = performance.now();
  const r = await unpackNar(chunked(bytes, chunk), b.out, { narSize }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(performance.now() - t0).toBeLessThan(2000);
  if (r !== undefined) expect(r, String(r)).toBeInstanceOf(FloxError);
  untouched(b);
  return { error: r as FloxError | undefined, out: b.out };
}

/** A directory NAR with raw entry names (the builder would not let us write these). */
function rawDir(entries: Array<[Buffer | string, Buffer]>): Buffer {
  return Buffer.concat([
    str('nix-archive-1'),
    strs('(', 'type', 'directory'),
    ...entries.map(([name, node]) => Buffer.concat([strs('entry', '(', 'name'), str(name), strs('node'), node, strs(')')])),
    strs(')'),
  ]);
}
const file = (s: string) => Buffer.concat([strs('(', 'type', 'regular', 'contents'), str(s), strs(')')]);
const link = (t: string) => strs('(', 'type', 'symlink', 'target', t, ')');

describe('escapes', () => {
  it.each([
    ['..', file('x')],
    ['.', file('x')],
    ['../flox-hostile-escape', file('x')],
    ['/tmp/flox-hostile-escape', file('x')],
    ['a/../../canary', file('overwritten')],
    [Buffer.from('a\0b'), file('x')],
  ])('an entry named %j is refused (nix-nar)', async (name, node) => {
    const r = await attempt(rawDir([[name, node]]));
    expect(r.error?.kind).toBe('nix-nar');
  });

  it('a symlink to the outside is created as a link and never followed: a later entry of the same name is refused', async () => {
    // "a" -> .. then "a" again as a directory holding "canary": duplicate, refused before writing
    const evil = rawDir([
      ['a', link('..')],
      ['a', Buffer.concat([strs('(', 'type', 'directory', 'entry', '(', 'name', 'canary', 'node'), file('overwritten'), strs(')', ')')])],
    ]);
    const r = await attempt(evil);
    expect(r.error?.kind).toBe('nix-nar');
  });

  it('an absolute symlink target is kept as a link (it only resolves inside the container)', async () => {
    const t: Tree = { type: 'directory', entries: [['sh', { type: 'symlink', target: '/tmp/flox-hostile-escape' }]] };
    const r = await attempt(nar(t));
    expect(r.error).toBeUndefined();
    expect(existsSync('/tmp/flox-hostile-escape')).toBe(false);
  });

  it('a root that is a symlink to the outside: only the link is created', async () => {
    const r = await attempt(Buffer.concat([str('nix-archive-1'), link('/tmp')]));
    expect(r.error).toBeUndefined();
  });
});

describe('random and mutated archives (fast-check)', () => {
  it('random bytes: a FloxError, nothing outside the target', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.integer({ min: 1, max: 64 }), async (bytes, chunk) => void (await attempt(Buffer.from(bytes), bytes.length, chunk))),
      { numRuns: RUNS },
    );
  });

  it('real NARs with bytes flipped, cut or a lying NarSize: a FloxError or a tree inside the target', async () => {
    expect(realNars.length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.integer({ min: -16, max: 16 }),
        async (which, flips, cut, sizeDelta) => {
          const orig = realNars[which % realNars.length]!;
          let b = Buffer.from(orig);
          for (const [at, x] of flips) b[at % b.length] = b[at % b.length]! ^ x;
          if (cut !== undefined) b = b.subarray(0, cut % b.length);
          await attempt(b, Math.max(0, b.length + sizeDelta));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
