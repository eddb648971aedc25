// A minimal Kubernetes API client for the installer: in-cluster service account, four calls.
// Responses are validated with zod for the fields the installer reads.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { z } from 'zod';
import { FloxError } from '../errors.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfig {
  baseUrl: string;
  token?: string;
  ca?: Buffer;
}

/** The pod's service account, when running in a cluster; null otherwise. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, saDir = SA_DIR): KubeConfig | null {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) return null;
  try {
    const token = readFileSync(`${saDir}/token`, 'utf8').trim();
    const ca = readFileSync(`${saDir}/ca.crt`);
    const h = host.includes(':') ? `[${host}]` : host;
    return { baseUrl: `https://${h}:${port}`, token, ca };
  } catch {
    return null;
  }
}

const Labels = z.record(z.string()).optional();
const Meta = z
  .object({
    name: z.string(),
    namespace: z.string().optional(),
    labels: Labels,
    deletionTimestamp: z.string().nullish(),
    ownerReferences: z.array(z.object({ kind: z.string(), name: z.string(), apiVersion: z.string().optional() }).passthrough()).optional(),
  })
  .passthrough();

const NodeSelectorRequirement = z.object({
  key: z.string(),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
  values: z.array(z.string()).optional(),
});
export const NodeSelectorTerm = z
  .object({ matchExpressions: z.array(NodeSelectorRequirement).optional(), matchFields: z.array(NodeSelectorRequirement).optional() })
  .passthrough();
const Toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.string().optional(),
  })
  .passthrough();

export const NodeObject = z
  .object({
    metadata: Meta,
    spec: z
      .object({ taints: z.array(z.object({ key: z.string(), value: z.string().optional(), effect: z.string() }).passthrough()).optional() })
      .passthrough()
      .optional(),
    status: z.object({ nodeInfo: z.object({ containerRuntimeVersion: z.string().optional() }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();
export type NodeObject = z.infer<typeof NodeObject>;

export const DaemonSetObject = z
  .object({
    metadata: Meta,
    spec: z
      .object({
        template: z
          .object({
            spec: z
              .object({
                nodeSelector: z.record(z.string()).optional(),
                tolerations: z.array(Toleration).optional(),
                affinity: z
                  .object({
                    nodeAffinity: z
                      .object({
                        requiredDuringSchedulingIgnoredDuringExecution: z.object({ nodeSelectorTerms: z.array(NodeSelectorTerm) }).optional(),
                      })
                      .passthrough()
                      .optional(),
                  })
                  .passthrough()
                  .optional(),
              })
              .passthrough(),
          })
          .passthrough(),
      })
      .passthrough(),
  })
  .passthrough();
export type DaemonSetObject = z.infer<typeof DaemonSetObject>;

export const PodObject = z.object({ metadata: Meta }).passthrough();

export class KubeClient {
  constructor(readonly cfg: KubeConfig) {}

  async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: unknown }> {
    const url = new URL(path, this.cfg.baseUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.cfg.token) headers.authorization = `Bearer ${this.cfg.token}`;
    if (payload) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(payload.length);
    }
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return await new Promise((resolve, reject) => {
      const r = req(url, { method, headers, ca: this.cfg.ca, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      });
      r.on('timeout', () => r.destroy(new Error('timeout')));
      r.on('error', (e) => reject(new FloxError('install', `Kubernetes API ${method} ${url.pathname}: ${e.message}`)));
      r.end(payload);
    });
  }

  private async get<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
    const { status, json } = await this.call('GET', path);
    if (status === 404) return null;
    if (status !== 200) throw new FloxError('install', `Kubernetes API GET ${path}: HTTP ${status} ${apiMessage(json)}`);
    const r = schema.safeParse(json);
    if (!r.success) throw new FloxError('install', `Kubernetes API GET ${path}: unexpected object: ${r.error.issues[0]?.message}`);
    return r.data;
  }

  getNode(name: string): Promise<NodeObject | null> {
    return this.get(`/api/v1/nodes/${encodeURIComponent(name)}`, NodeObject);
  }

  getPod(ns: string, name: string) {
    return this.get(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`, PodObject);
  }

  getDaemonSet(ns: string, name: string): Promise<DaemonSetObject | null> {
    return this.get(`/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/daemonsets/${encodeURIComponent(name)}`, DaemonSetObject);
  }

  /** Merge-patches node labels; a null value removes the label. */
  async patchNodeLabels(name: string, labels: Record<string, string | null>): Promise<void> {
    const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
    const { status, json } = await this.call('PATCH', path, { metadata: { labels } }, 'application/merge-patch+json');
    if (status !== 200) throw new FloxError('install', `cannot label node ${name}: HTTP ${status} ${apiMessage(json)}`);
  }
}

function apiMessage(json: unknown): string {
  return json && typeof json === 'object' && 'message' in json ? String((json as { message: unknown }).message) : '';
}
