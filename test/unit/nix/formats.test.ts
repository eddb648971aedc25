// Format functions against values real Nix produced (recorded in shared/research/nix.md and
// the fixture README), plus properties.
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contentAddressedPath,
  fingerprint,
  formatNix32,
  nix32Decode,
  nix32Encode,
  parseCacheInfo,
  parseContentAddress,
  parseHash,
  parseNarInfo,
  parsePublicKey,
  parseStorePath,
  signFingerprint,
  validSigners,
} from '../../../src/nix/index.js';
import { FloxError } from '../../../src/errors.js';
import { createHash } from 'node:crypto';

const sha = (s: string) => createHash('sha256').update(s).digest();
const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof FloxError ? e.kind : 'other';
  }
  return 'none';
};

describe('nix32', () => {
  it('matches nix-hash --flat --base32 /dev/null', () => {
    expect(nix32Encode(sha(''))).toBe('0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73');
  });
  it('round-trips any byte string', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), (b) => nix32Decode(nix32Encode(b), b.length).equals(Buffer.from(b))));
  });
  it('rejects foreign characters (e o u t) and overflowing bits', () => {
    expect(kindOf(() => nix32Decode('e'.repeat(52), 32))).toBe('nix-format');
    expect(kindOf(() => nix32Decode('z'.repeat(52), 32))).toBe('nix-format'); // 260 bits into 256
    expect(kindOf(() => nix32Decode('0'.repeat(51), 32))).toBe('nix-format');
  });
});

describe('hashes', () => {
  const nix32 = '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73';
  it('reads nix32, base16 and SRI as the same digest', () => {
    const a = parseHash(`sha256:${nix32}`);
    expect(parseHash(`sha256:${sha('').toString('hex')}`).digest).toEqual(a.digest);
    expect(parseHash(`sha256-${sha('').toString('base64')}`).digest).toEqual(a.digest);
    expect(formatNix32(a)).toBe(`sha256:${nix32}`);
  });
  it('rejects bad algorithms and lengths', () => {
    expect(kindOf(() => parseHash(`sha257:${nix32}`))).toBe('nix-format');
    expect(kindOf(() => parseHash(`sha256:${nix32.slice(1)}`))).toBe('nix-format');
    expect(kindOf(() => parseHash(`sha256-AAAA`))).toBe('nix-format');
    expect(kindOf(() => parseHash(`md5:${nix32}`, 'sha256'))).toBe('nix-format');
  });
});

describe('store paths', () => {
  it('parses hash and name', () => {
    expect(parseStorePath('/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1')).toEqual({
      hash: 'd061qzi4xak6wl812lldagpnv0w7wy5h',
      name: 'hello-2.12.1',
      basename: 'd061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1',
      path: '/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1',
    });
    expect(parseStorePath(`/nix/store/${'0'.repeat(32)}-a+b-c._?=`).name).toBe('a+b-c._?=');
  });
  it.each([
    ['/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello/bin', 'sub-path'],
    ['/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-', 'empty name'],
    ['/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5-hello', 'short hash'],
    ['/nix/store/e061qzi4xak6wl812lldagpnv0w7wy5h-hello', 'e is not nix32'],
    ['/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-..', 'dot name'],
    ['/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-a b', 'space'],
    ['/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-a\0b', 'NUL'],
    [`/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-${'a'.repeat(212)}`, 'too long'],
    ['/gnu/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello', 'other store'],
    ['/nix/store/../etc/d061qzi4xak6wl812lldagpnv0w7wy5h-x', 'traversal'],
    ['nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello', 'relative'],
  ])('rejects %j (%s)', (p) => {
    expect(kindOf(() => parseStorePath(p))).toBe('nix-format');
  });
  it('re-derives the lab CA paths (fixed:r:sha256 source with no refs)', () => {
    // nixlab: bootstrap-busybox-1.35.0, NarHash/CA sha256:0dpnhxl4…
    const ca = parseContentAddress('fixed:r:sha256:0dpnhxl4nrzl63dwzm2frzkbjw9qqapzzw5j5gj844kqlvvccyl2')!;
    expect(contentAddressedPath(ca, 'bootstrap-busybox-1.35.0', [])).toBe('/nix/store/2gyr6lr8xi5darn95x51fz4bixqms8yk-bootstrap-busybox-1.35.0');
    const text = parseContentAddress('text:sha256:1ylsjqlp1i4a8cw8vq3pvz74c58sp1qmdp993qj4gnf6qp0fm12r')!;
    expect(contentAddressedPath(text, 'env-manifest.nix', [])).toBe('/nix/store/w213fg5zb7df8h1wsldqpqi7yk9d80rk-env-manifest.nix');
    expect(text.hash.equals(sha('[ ]'))).toBe(true);
  });
});

// the hello narinfo from the nixlab, as Nix wrote it
const HELLO = `StorePath: /nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1
URL: nar/1sr4m37xjhsf86c8adlcawsvn2qwdhrghadbj9j7rq18chjpkryr.nar.xz
Compression: xz
FileHash: sha256:1sr4m37xjhsf86c8adlcawsvn2qwdhrghadbj9j7rq18chjpkryr
FileSize: 448
NarHash: sha256:0m7bz2qva88jmabp7wvzfhdbq0iqmpv8rl119xp56nsrnza6r7cy
NarSize: 2336
References: d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1 xfs61qzmvcq6xbq03lnidzxj7cxwxppj-busybox-1.35.0
Deriver: gwzkrj3z20qjnfxqcc49x4q00gyjqjav-hello-2.12.1.drv
Sig: nixlab-test-1:uJSqmsc7wfAyVWPrrj9qxUrAgrK0aep3ghcdxEztHOVvFK1xjDYwNHszthumXdr7iQMytb7Vd+zWoxeytzStAA==
`;
const LAB_KEY = 'nixlab-test-1:SKOIJfNzyvde3J0ZDdos4ObUSN6sdLxANas5GtNTglY=';

describe('narinfo', () => {
  it('parses every field', () => {
    const ni = parseNarInfo(HELLO);
    expect(ni).toMatchObject({
      storePath: '/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1',
      url: 'nar/1sr4m37xjhsf86c8adlcawsvn2qwdhrghadbj9j7rq18chjpkryr.nar.xz',
      compression: 'xz',
      fileSize: 448,
      narSize: 2336,
      references: ['d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1', 'xfs61qzmvcq6xbq03lnidzxj7cxwxppj-busybox-1.35.0'],
      deriver: 'gwzkrj3z20qjnfxqcc49x4q00gyjqjav-hello-2.12.1.drv',
    });
    expect(formatNix32(ni.fileHash!)).toBe('sha256:1sr4m37xjhsf86c8adlcawsvn2qwdhrghadbj9j7rq18chjpkryr');
    expect(ni.sigs).toHaveLength(1);
  });
  it('takes an absent Compression as bzip2, an empty References line as none, CA', () => {
    const ni = parseNarInfo(HELLO.replace(/^Compression: .*\n/m, '').replace(/^References: .*$/m, 'References: ').replace(/^Deriver.*\n/m, '') + 'CA: text:sha256:1ylsjqlp1i4a8cw8vq3pvz74c58sp1qmdp993qj4gnf6qp0fm12r\n');
    expect(ni.compression).toBe('bzip2');
    expect(ni.references).toEqual([]);
    expect(ni.deriver).toBeUndefined();
    expect(ni.ca).toMatch(/^text:/);
  });
  it('keeps several Sig lines', () => {
    expect(parseNarInfo(`${HELLO}Sig: other:${'A'.repeat(86)}==\n`).sigs).toHaveLength(2);
  });
  it.each([
    ['missing NarHash', HELLO.replace(/^NarHash.*\n/m, '')],
    ['duplicate field', `${HELLO}NarSize: 1\n`],
    ['bad size', HELLO.replace('NarSize: 2336', 'NarSize: -1')],
    ['URL escapes the cache', HELLO.replace(/^URL: .*$/m, 'URL: ../../etc/passwd')],
    ['absolute URL path', HELLO.replace(/^URL: .*$/m, 'URL: /etc/passwd')],
    ['bad reference', HELLO.replace(/^References: .*$/m, 'References: ../x')],
    ['bad store path', HELLO.replace(/^StorePath: .*$/m, 'StorePath: /nix/store/x')],
    ['unknown compression', HELLO.replace('Compression: xz', 'Compression: rar')],
    ['garbage line', `${HELLO}garbage\n`],
  ])('rejects %s', (_, text) => {
    expect(kindOf(() => parseNarInfo(text))).toBe('nix-format');
  });
  // what a server sent must not reach the pod's owner through an error (a redirect to a
  // metadata service, a proxy's page): the message names the field and line only
  const SECRET = 'AKIAFLOXLEAKEDSECRET';
  it.each([
    ['line', `${HELLO}${SECRET}\n`, /malformed line 11 /],
    ['StorePath', HELLO.replace(/^StorePath: .*$/m, `StorePath: /nix/store/${SECRET}`), /bad StorePath \(line 1\)/],
    ['URL', HELLO.replace(/^URL: .*$/m, `URL: ${SECRET}/../x`), /bad URL \(line 2\)/],
    ['Compression', HELLO.replace('Compression: xz', `Compression: ${SECRET}`), /bad Compression \(line 3\)/],
    ['FileHash', HELLO.replace(/^FileHash: .*$/m, `FileHash: sha256:${SECRET}`), /bad FileHash \(line 4\)/],
    ['NarHash', HELLO.replace(/^NarHash: .*$/m, `NarHash: sha256:${SECRET}`), /bad NarHash \(line 6\)/],
    ['NarSize', HELLO.replace('NarSize: 2336', `NarSize: ${SECRET}`), /bad NarSize \(line 7\)/],
    ['References', HELLO.replace(/^References: .*$/m, `References: ${SECRET}`), /bad References \(line 8\)/],
    ['Deriver', HELLO.replace(/^Deriver: .*$/m, `Deriver: ${SECRET}`), /bad Deriver \(line 9\)/],
  ])('a malformed %s is named by its line, its content is not quoted', (_, text, re) => {
    const e = (() => {
      try {
        parseNarInfo(text, 'https://cache.example/x.narinfo');
      } catch (x) {
        return x as FloxError;
      }
    })();
    expect(e?.kind).toBe('nix-format');
    expect(e?.message).toMatch(/^https:\/\/cache\.example\/x\.narinfo: /);
    expect(e?.message).toMatch(re);
    expect(e?.message).not.toContain(SECRET);
  });
  it('a malformed nix-cache-info Priority is not quoted either', () => {
    expect(() => parseCacheInfo(`StoreDir: /nix/store\nPriority: ${SECRET}\n`)).toThrow(/bad Priority/);
    expect(() => parseCacheInfo(`StoreDir: /nix/store\nPriority: ${SECRET}\n`)).not.toThrow(SECRET);
  });
  it('builds the fingerprint Nix signs', () => {
    expect(fingerprint(parseNarInfo(HELLO))).toBe(
      '1;/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1;sha256:0m7bz2qva88jmabp7wvzfhdbq0iqmpv8rl119xp56nsrnza6r7cy;2336;/nix/store/d061qzi4xak6wl812lldagpnv0w7wy5h-hello-2.12.1,/nix/store/xfs61qzmvcq6xbq03lnidzxj7cxwxppj-busybox-1.35.0',
    );
  });
  it('parses nix-cache-info with priority defaulting to 50', () => {
    expect(parseCacheInfo('StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n')).toEqual({ storeDir: '/nix/store', wantMassQuery: true, priority: 40 });
    expect(parseCacheInfo('StoreDir: /nix/store\n').priority).toBe(50);
    expect(kindOf(() => parseCacheInfo('WantMassQuery: 1\n'))).toBe('nix-format');
  });
});

describe('signatures', () => {
  const keys = [parsePublicKey(LAB_KEY)];
  it("verifies Nix's own signature", () => {
    expect(validSigners(parseNarInfo(HELLO), keys)).toEqual(['nixlab-test-1']);
  });
  it('refuses a tampered narinfo and a wrong key', () => {
    expect(validSigners(parseNarInfo(HELLO.replace('NarSize: 2336', 'NarSize: 2337')), keys)).toEqual([]);
    const { publicKey } = generateKeyPairSync('ed25519');
    const other = `nixlab-test-1:${Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64')}`;
    expect(validSigners(parseNarInfo(HELLO), [parsePublicKey(other)])).toEqual([]);
  });
  it('accepts when any one of several Sig lines is valid', () => {
    const bad = `Sig: nixlab-test-1:${Buffer.alloc(64, 7).toString('base64')}\n`;
    expect(validSigners(parseNarInfo(bad + HELLO), keys)).toEqual(['nixlab-test-1']);
  });
  it('signs exactly as Nix does (ed25519 is deterministic)', () => {
    // the nixlab's public test seed "nixlab-test-key-not-for-prod-use"
    const seed = Buffer.from('nixlab-test-key-not-for-prod-use');
    const pub = Buffer.from(LAB_KEY.split(':')[1]!, 'base64');
    const secret = `nixlab-test-1:${Buffer.concat([seed, pub]).toString('base64')}`;
    expect(signFingerprint(fingerprint(parseNarInfo(HELLO)), secret)).toBe(/^Sig: (.*)$/m.exec(HELLO)![1]);
  });
  it('rejects malformed keys', () => {
    expect(kindOf(() => parsePublicKey('nokey'))).toBe('nix-format');
    expect(kindOf(() => parsePublicKey('k:AAAA'))).toBe('nix-format');
  });
});
