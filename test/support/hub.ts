// A local FloxHub for tests: floxmeta repos made by scripts/fixtures/make-floxhub.mjs over the
// real Nix fixture's store paths, served by scripts/hub/server.mjs (git http-backend, Basic auth
// for private owners, binary cache files) in this process, on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureNixFixture, type NixFixture, REPO } from './nixcache.js';

export interface FloxhubSummary {
  gitRoot: string;
  tokensFile: string;
  token: string;
  system: string;
  envs: Record<string, { live: number; commit: string; note: string }>;
}

interface HubHandle {
  url: string;
  gitUrl: string;
  caches: Record<string, string>;
  state: { down: string; requests: number; gitRequests: number };
  setDown(mode: string): void;
  close(): Promise<void>;
}

interface FixtureModule {
  createFloxhub(o: { outDir: string; paths: unknown; system?: string }): FloxhubSummary;
  pushPackages(o: { outDir: string; owner: string; name: string; paths: unknown; roles?: string[] }): { generation: number; commit: string };
  pushGeneration(o: Record<string, unknown>): { generation: number; commit: string };
  switchGeneration(o: { outDir: string; owner: string; name: string; generation: number }): { generation: number; commit: string };
  makeLock(toml: string, packages: unknown[]): unknown;
  catalogEntry(id: string, outputs: Record<string, string>, o?: Record<string, unknown>): unknown;
  PRIVATE_TOKEN: string;
}

export interface TestHub {
  url: string;
  gitUrl: string;
  outDir: string;
  nix: NixFixture;
  /** host directory holding the fixture's <hash>-<name> store paths */
  storeDir: string;
  summary: FloxhubSummary;
  token: string;
  fixtures: FixtureModule;
  /** '503' | 'close' | '' */
  setDown(mode: '' | '503' | 'close' | 'fetch'): void;
  requests(): number;
  resetRequests(): void;
  close(): Promise<void>;
}

// plain .mjs modules: imported through a computed specifier (they carry no type declarations)
export async function loadFixtureModule(): Promise<FixtureModule> {
  return (await import(pathToFileURL(join(REPO, 'scripts/fixtures/make-floxhub.mjs')).href)) as FixtureModule;
}

export async function startTestHub(): Promise<TestHub> {
  const nix = await ensureNixFixture();
  const fixtures = await loadFixtureModule();
  const server = (await import(pathToFileURL(join(REPO, 'scripts/hub/server.mjs')).href)) as {
    startHub(o: { root: string; tokens: string; caches: Record<string, string>; port?: number }): Promise<HubHandle>;
  };
  const outDir = mkdtempSync(join(tmpdir(), 'floxhub-'));
  const summary = fixtures.createFloxhub({ outDir, paths: nix });
  const hub = await server.startHub({ root: summary.gitRoot, tokens: summary.tokensFile, caches: nix.caches, port: 0 });
  return {
    url: hub.url,
    gitUrl: hub.gitUrl,
    outDir,
    nix,
    storeDir: join(nix.localStore, 'nix/store'),
    summary,
    token: summary.token,
    fixtures,
    setDown: (m) => hub.setDown(m),
    requests: () => hub.state.requests,
    resetRequests: () => {
      hub.state.requests = 0;
      hub.state.gitRequests = 0;
    },
    close: async () => {
      await hub.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
