import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pruneHubCache } from '../../../src/ops/hub-cache-gc.js';

describe('pruneHubCache', () => {
  it('removes old commits no pointer names; keeps the head, pins and anything recent', () => {
    const state = mkdtempSync(join(tmpdir(), 'hubgc-'));
    const env = join(state, 'floxhub', 'abc123', 'public-owner', 'hello');
    const commit = (c: string, ageMs: number) => {
      const d = join(env, 'commits', c);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, '.complete'), c);
      const t = (Date.now() - ageMs) / 1000;
      utimesSync(d, t, t);
    };
    const hour = 3_600_000;
    commit('a'.repeat(40), 5 * hour); // old head
    commit('b'.repeat(40), 4 * hour); // pinned generation
    commit('c'.repeat(40), 3 * hour); // superseded by a push: goes
    commit('d'.repeat(40), 60_000); // fetched a minute ago, pointer not written yet: stays
    writeFileSync(join(env, 'head.json'), JSON.stringify({ commit: 'a'.repeat(40), anonymous: true }));
    mkdirSync(join(env, 'pins'));
    writeFileSync(join(env, 'pins', '1.json'), JSON.stringify({ commit: 'b'.repeat(40), anonymous: true }));
    writeFileSync(join(env, 'pins', '2.json'), '{torn');

    const old = (p: string) => utimesSync(p, (Date.now() - 2 * hour) / 1000, (Date.now() - 2 * hour) / 1000);
    old(join(env, 'pins', '1.json'));
    old(join(env, 'pins', '2.json'));
    const keep = new Set(['public-owner/hello:1']);
    expect(pruneHubCache(state, Date.now() - 10 * 60_000, keep)).toBe(1);
    expect(readdirSync(join(env, 'commits')).sort()).toEqual(['a'.repeat(40), 'b'.repeat(40), 'd'.repeat(40)]);
    // generation 2's pin was not kept and is old: gone; generation 1 is kept
    expect(readdirSync(join(env, 'pins')).sort()).toEqual(['1.json']);
    // once generation 1 is no longer kept, its pin goes and then its commit
    expect(pruneHubCache(state, Date.now() - 10 * 60_000, new Set())).toBe(1);
    expect(readdirSync(join(env, 'commits')).sort()).toEqual(['a'.repeat(40), 'd'.repeat(40)]);
  });

  it('does nothing without a FloxHub cache', () => {
    expect(pruneHubCache(mkdtempSync(join(tmpdir(), 'hubgc-')), Date.now())).toBe(0);
  });
});
