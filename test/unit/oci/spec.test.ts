import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile, parseSpec, saveSpecFile, serializeSpec } from '../../../src/oci/spec.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/specs');

describe('lossless spec round trip', () => {
  for (const f of readdirSync(FIXTURES)) {
    it(`${f} survives parse + serialize byte for byte`, () => {
      const text = readFileSync(join(FIXTURES, f), 'utf8');
      expect(serializeSpec(parseSpec(text))).toBe(text);
    });
  }

  it('keeps integers above 2^53 exactly, which JSON.parse would round', () => {
    const text = '{"linux":{"resources":{"memory":{"swap":18446744073709551615,"limit":9007199254740993}}}}';
    expect(JSON.stringify(JSON.parse(text))).not.toBe(text);
    expect(serializeSpec(parseSpec(text))).toBe(text);
  });

  it('keeps unknown fields through an edit', () => {
    const spec = parseSpec('{"ociVersion":"1.2.0","process":{"args":["a"]},"zzFuture":{"x":[1,{"y":null}]},"annotations":{}}');
    spec.process!.args = ['b'];
    expect(serializeSpec(spec)).toBe('{"ociVersion":"1.2.0","process":{"args":["b"]},"zzFuture":{"x":[1,{"y":null}]},"annotations":{}}');
  });

  it('rejects non-JSON, non-objects and non-string annotations with a clear error', () => {
    expect(() => parseSpec('{"a":', 'x.json')).toThrow(/x\.json is not valid JSON/);
    expect(() => parseSpec('[1]', 'x.json')).toThrow(/not a JSON object/);
    expect(() => parseSpec('{"annotations":{"a":1}}', 'x.json')).toThrow(/annotations.*strings/);
  });
});

describe('saveSpecFile', () => {
  it('writes atomically, keeps the mode and leaves no temp file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spec-'));
    const p = join(dir, 'config.json');
    writeFileSync(p, '{"process":{"args":["x"]}}');
    chmodSync(p, 0o600);
    const before = statSync(p).ino;
    const spec = loadSpecFile(p);
    spec.process!.args = ['y'];
    saveSpecFile(p, spec);
    expect(readFileSync(p, 'utf8')).toBe('{"process":{"args":["y"]}}');
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(p).ino).not.toBe(before); // replaced by rename, not rewritten in place
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('reports a missing file by path', () => {
    expect(() => loadSpecFile('/nonexistent/config.json')).toThrow(/cannot read \/nonexistent\/config.json: ENOENT/);
  });
});
