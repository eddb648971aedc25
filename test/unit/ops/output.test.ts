// Human output of the operator commands: progress, env ls, gc, explain (snapshots).
import { describe, expect, it } from 'vitest';
import { formatGc } from '../../../src/cli/commands/gc.js';
import { parseDuration } from '../../../src/cli/commands/common.js';
import { formatBundleExplanation, formatContainerExplanation } from '../../../src/ops/explain-format.js';
import { formatBytes } from '../../../src/ops/format.js';
import { formatListing, listEnvironments } from '../../../src/ops/ls.js';
import { foldProgress, initialProgress, progressBar, progressLine } from '../../../src/ops/progress.js';
import type { RealiseEvent } from '../../../src/nix/index.js';

const P = (c: string, n: string) => `/nix/store/${c.repeat(32)}-${n}`;
const T0 = Date.parse('2026-11-28T03:00:00Z');

describe('progress', () => {
  const events: RealiseEvent[] = [
    { type: 'closure', paths: [P('a', 'glibc'), P('b', 'hello')], missing: [P('a', 'glibc'), P('b', 'hello')], narBytes: 30 << 20, fileBytes: 10 << 20 },
    { type: 'progress', path: P('a', 'glibc'), pathBytes: 5 << 20, totalBytes: 5 << 20, totalFileBytes: 10 << 20 },
    { type: 'path-done', path: P('a', 'glibc'), substituter: 'https://cache', fileBytes: 5 << 20, narBytes: 20 << 20, ms: 1200 },
  ];
  it('folds events into a bar with bytes, paths and rate', () => {
    let s = initialProgress(T0);
    const lines: string[] = [];
    for (const e of events) {
      s = foldProgress(s, e);
      const l = progressLine(s, e, T0 + 2000);
      if (l) lines.push(l);
    }
    expect(progressBar(s, T0 + 2000, 20)).toMatchInlineSnapshot(`"[##########..........] 5.0 MiB/10 MiB  1/2 paths  2.5 MiB/s"`);
    expect(lines).toMatchInlineSnapshot(`
      [
        "closure: 2 paths, 2 to fetch (10 MiB download, 30 MiB unpacked)",
        "fetched /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-glibc (5.0 MiB, 1200 ms) [1/2] 5.0 MiB total, 2.5 MiB/s",
      ]
    `);
  });
  it('sizes and durations', () => {
    expect([0, 1023, 1024, 1536, 10 << 20, 3 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 MiB', '3.0 GiB']);
    expect(['0', '90s', '15m', '2h', '250ms'].map(parseDuration)).toEqual([0, 90_000, 900_000, 7_200_000, 250]);
    expect(() => parseDuration('soon')).toThrow(/bad duration/);
  });
});

describe('env ls', () => {
  it('one row per generation: modes, closure size, last use; realised-only and resolved-only generations too', () => {
    const a = `${'a'.repeat(32)}-glibc`;
    const b = `${'b'.repeat(32)}-hello`;
    const rows = listEnvironments({
      envs: [
        { key: 'k1', environment: 'o/hello', generation: 2, commit: 'c', mode: 'run', hostDir: '/e/k1', roots: [b], renderedAt: T0 - 7200_000, lastUsed: T0 - 60_000, useCount: 3 },
        { key: 'k2', environment: 'o/hello', generation: 2, commit: 'c', mode: 'dev', hostDir: '/e/k2', roots: [b], renderedAt: T0 - 7200_000, lastUsed: T0 - 7200_000, useCount: 1 },
      ],
      paths: [
        { basename: a, references: [], narSize: 30 << 20, users: ['o/hello:1', 'o/hello:2'], registeredAt: T0 },
        { basename: b, references: [a], narSize: 1 << 20, users: ['o/hello:2'], registeredAt: T0 },
      ],
      cached: [{ hub: 'h', environment: 'o/hello', generations: [1, 2, 3] }],
    });
    expect(formatListing(rows, T0)).toMatchInlineSnapshot(`
      "ENVIRONMENT  GEN  MODES       PATHS  SIZE    LAST USED
      o/hello      3    (resolved)  0      0 B     -
      o/hello      2    dev,run     2      31 MiB  1m ago
      o/hello      1    (resolved)  1      30 MiB  -"
    `);
    expect(rows[1]).toMatchObject({ useCount: 4, renderKeys: ['k1', 'k2'], closurePaths: 2 });
  });
});

describe('gc and explain output', () => {
  it('gc --dry-run', () => {
    expect(
      formatGc({
        dryRun: true,
        containers: 2,
        busyPaths: [],
        freedBytes: 0,
        tmpRemoved: 0, hubCommitsRemoved: 0,
        removeEnvs: [{ key: 'k1', environment: 'o/hello', generation: 1, mode: 'run', reason: 'old-generation' }],
        keepEnvs: [{ key: 'k2', environment: 'o/hello', generation: 2, mode: 'run', reason: 'in-use' }],
        removePaths: [{ basename: `${'b'.repeat(32)}-hello`, bytes: 2048 }],
        dropUsers: [],
        keptPaths: 5,
        bytesBefore: 12_288,
        bytesAfter: 10_240,
        overLimit: false,
      }),
    ).toMatchInlineSnapshot(`
      "would remove 1 rendered environment(s):
      ENVIRONMENT  GEN  MODE  WHY             KEY
      o/hello      1    run   old-generation  k1
      kept 1 rendered environment(s):
      ENVIRONMENT  GEN  MODE  WHY
      o/hello      2    run   in-use
      would remove /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello (2.0 KiB)
      would remove 1 store path(s), 2.0 KiB; kept 5 (10 KiB); 2 container(s) checked"
    `);
  });
  it('explain: a skipped container and a container record', () => {
    expect(formatBundleExplanation({ kind: 'bundle', bundle: '/b', container: 'container POD of pod ci/x', decision: 'skip', reason: 'the pod sandbox (pause) container is never activated' })).toMatchInlineSnapshot(`
      "bundle:    /b
      container: container POD of pod ci/x
      decision:  skip — the pod sandbox (pause) container is never activated"
    `);
    expect(
      formatContainerExplanation({
        kind: 'container',
        id: 'abc',
        root: '/run/r',
        bundle: '/b',
        record: { version: 1, environment: 'o/hello', generation: 2, env: ['FLOX_ENV=/run/flox/env'], wrapArgs: [] },
        spec: { mounts: [{ destination: '/run/flox/env', source: '/s/envs/k', type: 'bind', options: ['ro'] }], env: ['FLOX_ENV=/run/flox/env'], args: ['hello'] },
        notes: ['no "activated" line for abc in /var/log/flox-runtime.log'],
      }),
    ).toMatchInlineSnapshot(`
      "container: abc (root /run/r)
      bundle:    /b
      record:    o/hello generation 2; exec wraps with []
      mounts:
        /run/flox/env <- /s/envs/k [bind: ro]
      env:
        FLOX_ENV=/run/flox/env
      args: ["hello"]
      note: no "activated" line for abc in /var/log/flox-runtime.log"
    `);
  });
});
