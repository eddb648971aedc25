import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { appendBlock, BLOCK_BEGIN, BLOCK_END, hasBlock, parseToml, stripBlock } from '../../../src/install/toml-edit.js';
import { FloxError } from '../../../src/errors.js';

describe('marked block', () => {
  it('appends after a final newline and strips back to the same bytes', () => {
    const t = '# keep me\na = 1\n';
    const out = appendBlock(t, '[x]\nb = 2\n');
    expect(out).toBe(`# keep me\na = 1\n${BLOCK_BEGIN}\n[x]\nb = 2\n${BLOCK_END}\n`);
    expect(hasBlock(out)).toBe(true);
    expect(stripBlock(out, 'f')).toBe(t);
  });

  it('adds a newline to a file without one and removes it again', () => {
    const t = 'a = 1';
    const out = appendBlock(t, '[x]\n');
    expect(parseToml(out, 'f')).toMatchObject({ a: 1n, x: {} });
    expect(stripBlock(out, 'f')).toBe(t);
  });

  it('round-trips any text without markers', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '\n', '#', ' ', '[', '"') }), (t) => {
        expect(stripBlock(appendBlock(t, '[flox]\nk = 1\n'), 'f')).toBe(t);
      }),
    );
  });

  it('leaves text without a block alone and refuses a half block', () => {
    expect(stripBlock('a = 1\n', 'f')).toBe('a = 1\n');
    expect(() => stripBlock(`a = 1\n${BLOCK_BEGIN}\n[x]\n`, 'f')).toThrow(/no end marker/);
  });
});

describe('parseToml', () => {
  it('refuses malformed TOML with the position and a clear instruction', () => {
    try {
      parseToml('version = 2\n[plugins\n', '/etc/containerd/config.toml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FloxError);
      expect((e as FloxError).kind).toBe('install');
      expect((e as FloxError).message).toMatch(/config\.toml is not valid TOML \(line 2.*Refusing to edit it/);
    }
  });
});
