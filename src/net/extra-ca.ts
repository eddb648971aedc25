// Extra CA certificates for HTTPS to FloxHub and binary caches, loaded on first use.
// Node 20 reads NODE_EXTRA_CA_CERTS eagerly at start-up: ~90 ms with a full CA bundle, in the
// start path of every container, even one whose environment is cached and needs no TLS. So the
// sh front end hands the file over as FLOX_RUNTIME_EXTRA_CA_CERTS instead, and the first HTTPS
// request reads it here. Same meaning as Node's: Node's own roots plus these; an unreadable
// file is ignored (with one warning), as Node does.
import { readFileSync } from 'node:fs';

export const EXTRA_CA_ENV = 'FLOX_RUNTIME_EXTRA_CA_CERTS';

let loaded: Promise<{ ca?: string[] }> | undefined;

/** TLS options to spread into an https request or Agent: `{ ca }` when extra CAs are set, else `{}`. */
export function extraCaOptions(env: NodeJS.ProcessEnv = process.env): Promise<{ ca?: string[] }> {
  // one load, shared: callers that come while it runs (a head check and a substituter) wait for it
  return (loaded ??= load(env[EXTRA_CA_ENV]));
}

async function load(file: string | undefined): Promise<{ ca?: string[] }> {
  if (!file) return {};
  try {
    const extra = readFileSync(file, 'utf8');
    // node:tls only now: an http hub never loads it
    return { ca: [...(await import('node:tls')).rootCertificates, extra] };
  } catch (e) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return {};
  }
}

/** For tests: forget what was loaded. */
export function resetExtraCa(): void {
  loaded = undefined;
}
