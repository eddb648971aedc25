// HTTPS to a FloxHub whose certificate comes from a private CA (a corporate proxy, an
// air-gapped mirror): trusted through FLOX_RUNTIME_EXTRA_CA_CERTS, which the front end sets
// from NODE_EXTRA_CA_CERTS; refused without it. Certificates made by openssl for this test.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { listRefs } from '../../../src/floxhub/smart-http.js';
import { EXTRA_CA_ENV, resetExtraCa } from '../../../src/net/extra-ca.js';
import { getText } from '../../../src/nix/http.js';
import { makeTestCa } from '../../support/test-ca.js';

const SHA = 'a'.repeat(40);
const pkt = (s: string) => `${(s.length + 4).toString(16).padStart(4, '0')}${s}`;
const work = mkdtempSync(join(tmpdir(), 'flox-extra-ca-'));
let server: Server;
let base: string;

beforeAll(async () => {
  const { key, cert } = makeTestCa(work, 'IP:127.0.0.1');
  const adv = `${pkt('# service=git-upload-pack\n')}0000${pkt(`${SHA} refs/heads/e\n`)}0000`;
  server = createServer({ key, cert }, (_req, res) => res.end(adv));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterEach(() => {
  delete process.env[EXTRA_CA_ENV];
  resetExtraCa();
});
afterAll(() => {
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

it('refuses a certificate from a CA nobody named', async () => {
  await expect(listRefs(`${base}/o/floxmeta`, { timeoutMs: 5000 })).rejects.toMatchObject({ reason: 'unreachable', message: expect.stringMatching(/certificate/i) });
});

it('trusts the CA named by FLOX_RUNTIME_EXTRA_CA_CERTS, loaded on the first HTTPS request', async () => {
  process.env[EXTRA_CA_ENV] = join(work, 'ca.pem');
  expect((await listRefs(`${base}/o/floxmeta`, { timeoutMs: 5000 })).get('refs/heads/e')).toBe(SHA);
});

it("a binary cache behind the same CA is trusted too (the substituter's https agent)", async () => {
  process.env[EXTRA_CA_ENV] = join(work, 'ca.pem');
  expect(await getText(`${base}/nix-cache-info`, { timeoutMs: 5000 })).toContain('refs/heads/e');
});

it('callers that come while the file loads get the CA too (one load, shared)', async () => {
  process.env[EXTRA_CA_ENV] = join(work, 'ca.pem');
  const answers = await Promise.all([1, 2, 3].map(() => listRefs(`${base}/o/floxmeta`, { timeoutMs: 5000 })));
  for (const refs of answers) expect(refs.get('refs/heads/e')).toBe(SHA);
});

it('ignores an unreadable file, as Node does with NODE_EXTRA_CA_CERTS', async () => {
  process.env[EXTRA_CA_ENV] = join(work, 'missing.pem');
  await expect(listRefs(`${base}/o/floxmeta`, { timeoutMs: 5000 })).rejects.toMatchObject({ reason: 'unreachable' });
});
