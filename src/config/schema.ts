// The runtime's config file (TOML). Every key is optional; defaults are filled in here so the
// rest of the code sees one complete, validated object.
import { z } from 'zod';
import { arch } from 'node:os';
import { PolicyFileSchema, resolvePolicy, type Policy } from '../policy/config.js';

export function defaultSystem(machine: string = arch()): string {
  const cpu = machine === 'x64' ? 'x86_64' : machine === 'arm64' ? 'aarch64' : machine;
  return `${cpu}-linux`;
}

/** Flox derives the git URL from the hub URL: https://hub.flox.dev -> https://api.flox.dev/git */
export function deriveGitUrl(hubUrl: string): string {
  const u = new URL(hubUrl);
  if (u.hostname.startsWith('hub.')) u.hostname = `api.${u.hostname.slice(4)}`;
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/git`;
  return u.toString().replace(/\/+$/, '');
}

const httpUrl = z
  .string()
  .url()
  .refine((s) => /^https?:\/\//.test(s), { message: 'must be an http(s) URL' });
const absolutePath = z.string().refine((s) => s.startsWith('/'), { message: 'must be an absolute path' });
const publicKey = z
  .string()
  .regex(/^[^:\s]+:[A-Za-z0-9+/]{43}=$/, { message: 'must be name:base64(32-byte ed25519 key)' });

export const ConfigFileSchema = z
  .object({
    runtime: z
      .object({
        delegate: z.array(z.string().min(1)).min(1).optional(),
        'state-dir': absolutePath.optional(),
        system: z.string().regex(/^[a-z0-9_]+-[a-z]+$/, { message: 'must look like x86_64-linux' }).optional(),
        // 'store': every container gets the whole node store; 'closure': only its closure, path by path
        'store-mount': z.enum(['store', 'closure']).optional(),
        // a store path providing /bin/sh and /usr/bin/env for images that have none
        'shell-store-path': z.string().optional(),
        // 'node': our own substituter into <state-dir>/store; 'nix': the host's nix-store --realise
        'store-mode': z.enum(['node', 'nix']).optional(),
      })
      .strict()
      .optional(),
    floxhub: z
      .object({
        url: httpUrl.optional(),
        'git-url': httpUrl.optional(),
        'token-file': z.string().optional(),
        'timeout-ms': z.number().int().positive().max(110_000).optional(),
        // the most a floxmeta clone may receive (and unpack to), on the node's disk
        'max-clone-bytes': z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    nix: z
      .object({
        substituters: z.array(httpUrl.or(z.string().startsWith('file://'))).optional(),
        'trusted-public-keys': z.array(publicKey).optional(),
        'max-parallel-downloads': z.number().int().min(1).max(256).optional(),
        'timeout-ms': z.number().int().positive().max(110_000).optional(),
        // the whole realisation of one container's closure, retries included
        'deadline-ms': z.number().int().positive().max(110_000).optional(),
      })
      .strict()
      .optional(),
    gc: z
      .object({
        'keep-generations': z.number().int().min(0).optional(),
        'max-bytes': z.number().int().min(0).optional(),
      })
      .strict()
      .optional(),
    log: z
      .object({
        file: z.string().optional(),
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).optional(),
      })
      .strict()
      .optional(),
    // who may use what on this node (src/policy); absent: every pod may use everything
    policy: PolicyFileSchema.optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof ConfigFileSchema>;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  runtime: {
    delegate: string[];
    stateDir: string;
    system: string;
    storeMount: 'store' | 'closure';
    shellStorePath: string;
    storeMode: 'node' | 'nix';
  };
  floxhub: { url: string; gitUrl: string; tokenFile: string; timeoutMs: number; maxCloneBytes: number };
  nix: { substituters: string[]; trustedPublicKeys: string[]; maxParallelDownloads: number; timeoutMs: number; deadlineMs: number };
  gc: { keepGenerations: number; maxBytes: number };
  log: { file: string; level: LogLevel };
  policy: Policy;
}

export const DEFAULTS = {
  delegate: ['runc', 'crun'],
  stateDir: '/var/lib/flox-runtime',
  hubUrl: 'https://hub.flox.dev',
  substituters: ['https://cache.nixos.org', 'https://cache.flox.dev'],
  trustedPublicKeys: [
    'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=',
    'flox-cache-public-1:7F4OyH7ZCnFhcze3fJdfyXYLQw/aV7GEed86nQ7IsOs=',
  ],
  logFile: '/var/log/flox-runtime.log',
} as const;

export function resolveConfig(file: ConfigFile): Config {
  const hubUrl = file.floxhub?.url ?? DEFAULTS.hubUrl;
  return {
    runtime: {
      delegate: file.runtime?.delegate ?? [...DEFAULTS.delegate],
      stateDir: file.runtime?.['state-dir'] ?? DEFAULTS.stateDir,
      system: file.runtime?.system ?? defaultSystem(),
      storeMount: file.runtime?.['store-mount'] ?? 'store',
      shellStorePath: file.runtime?.['shell-store-path'] ?? '',
      storeMode: file.runtime?.['store-mode'] ?? 'node',
    },
    floxhub: {
      url: hubUrl,
      gitUrl: file.floxhub?.['git-url'] ?? deriveGitUrl(hubUrl),
      tokenFile: file.floxhub?.['token-file'] ?? '',
      // well inside kubelet's 2-minute runtime request timeout
      timeoutMs: file.floxhub?.['timeout-ms'] ?? 20_000,
      maxCloneBytes: file.floxhub?.['max-clone-bytes'] ?? 256 * 1024 * 1024,
    },
    nix: {
      substituters: file.nix?.substituters ?? [...DEFAULTS.substituters],
      trustedPublicKeys: file.nix?.['trusted-public-keys'] ?? [...DEFAULTS.trustedPublicKeys],
      maxParallelDownloads: file.nix?.['max-parallel-downloads'] ?? 16,
      timeoutMs: file.nix?.['timeout-ms'] ?? 30_000,
      // per-request timeouts times retries could outlast kubelet's 2-minute runtime request
      // timeout; this bounds the whole realisation (completed paths are kept for the retry)
      deadlineMs: file.nix?.['deadline-ms'] ?? 90_000,
    },
    gc: {
      keepGenerations: file.gc?.['keep-generations'] ?? 2,
      maxBytes: file.gc?.['max-bytes'] ?? 0,
    },
    log: { file: file.log?.file ?? DEFAULTS.logFile, level: file.log?.level ?? 'info' },
    policy: resolvePolicy(file.policy, file.nix?.substituters ?? [...DEFAULTS.substituters]),
  };
}
