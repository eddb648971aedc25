// A private CA and a server certificate signed by it, made by openssl in `dir`, for HTTPS tests
// (a corporate proxy, an air-gapped mirror).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** PEM of the CA certificate, and its file */
  caPem: string;
  caFile: string;
  /** the server's key and certificate (PEM), for https.createServer */
  key: Buffer;
  cert: Buffer;
}

/** `san` as openssl writes it: "IP:127.0.0.1" or "DNS:localhost". */
export function makeTestCa(dir: string, san: string): TestCa {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=flox-runtime test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', `/CN=${san.slice(san.indexOf(':') + 1)}`);
  writeFileSync(join(dir, 'ext'), `subjectAltName=${san}\n`);
  ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext');
  const caFile = join(dir, 'ca.pem');
  return { caPem: readFileSync(caFile, 'utf8'), caFile, key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')) };
}
