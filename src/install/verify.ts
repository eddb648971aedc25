// "Served", not "written": after a restart the installer asks the runtime itself which handlers
// it serves, and labels the node only when `flox` is there with our binary and pass-through.
import { request } from 'node:http';
import { FloxError } from '../errors.js';
import { criStatusInfo } from './cri-status.js';
import { HANDLER } from './containerd-config.js';
import { getTable, parseToml } from './toml-edit.js';

export interface ServedHandler {
  runtimeType: string;
  podAnnotations: string[];
  options: Record<string, unknown>;
}

/** The flox handler in containerd's CRI Status `config` JSON, or null when it is not served. */
export function handlerFromCriConfig(configJson: string, handler = HANDLER): ServedHandler | null {
  const cfg = JSON.parse(configJson) as { containerd?: { runtimes?: Record<string, Record<string, unknown>> } };
  const rt = cfg.containerd?.runtimes?.[handler];
  if (!rt) return null;
  const ann = (rt.PodAnnotations ?? rt.podAnnotations ?? []) as string[];
  return {
    runtimeType: String(rt.runtimeType ?? rt.runtime_type ?? ''),
    podAnnotations: Array.isArray(ann) ? ann : [],
    options: (rt.options ?? {}) as Record<string, unknown>,
  };
}

export function checkServed(h: ServedHandler | null, binaryName: string, where: string): ServedHandler {
  if (!h) throw new FloxError('install', `${where} does not serve the \`${HANDLER}\` runtime handler after the restart; check its config and log`);
  const problems: string[] = [];
  if (h.options.BinaryName !== binaryName) problems.push(`BinaryName is ${JSON.stringify(h.options.BinaryName)}, expected ${binaryName}`);
  if (!h.podAnnotations.includes('flox.dev/*')) problems.push('pod_annotations lacks "flox.dev/*"');
  if (problems.length) throw new FloxError('install', `${where} serves a \`${HANDLER}\` handler that is not ours: ${problems.join('; ')}`);
  return h;
}

async function retry<T>(timeoutMs: number, f: () => Promise<T>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() >= until) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function containerdServedHandler(socket: string, timeoutMs = 60_000): Promise<ServedHandler | null> {
  return await retry(timeoutMs, async () => {
    const info = await criStatusInfo({ socket, timeoutMs: 10_000 });
    if (!info.config) throw new FloxError('install', `CRI Status on ${socket} has no config in its verbose info`);
    return handlerFromCriConfig(info.config);
  });
}

/** CRI-O serves its effective config as TOML at GET /config on its socket (what `crio status config` reads). */
export async function crioServedHandler(socket: string, timeoutMs = 60_000): Promise<ServedHandler | null> {
  const text = await retry(
    timeoutMs,
    () =>
      new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: socket, path: '/config', method: 'GET', timeout: 10_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      }),
  );
  const rt = getTable(parseToml(text, `CRI-O config from ${socket}`), ['crio', 'runtime', 'runtimes', HANDLER]);
  if (!rt) return null;
  // CRI-O passes every pod annotation through; there is no pass-through list to check
  return { runtimeType: String(rt.runtime_type ?? 'oci'), podAnnotations: ['flox.dev/*'], options: { BinaryName: rt.runtime_path } };
}
