// A private environment's token comes from the pod's secret, mounted at
// /var/run/secrets/flox.dev; the runtime reads it on the host through that mount's source.
import { isAbsolute, join } from 'node:path';
import { POD_TOKEN_KEY, POD_TOKEN_MOUNT } from '../floxhub/token.js';
import type { OciSpec } from '../oci/spec.js';

/** The host file holding the pod's FloxHub token, if the pod mounts one. */
export function podTokenFile(spec: OciSpec): string | undefined {
  for (const m of spec.mounts ?? []) {
    if (!m.source || !isAbsolute(m.source)) continue;
    const dest = m.destination.replace(/\/+$/, '');
    if (dest === POD_TOKEN_MOUNT) return join(m.source, POD_TOKEN_KEY);
    if (dest === `${POD_TOKEN_MOUNT}/${POD_TOKEN_KEY}`) return m.source; // subPath mount of the key
  }
  return undefined;
}
