// Shared vocabulary of the node installer. Stages plan file changes first (pure, testable,
// printable for --dry-run) and apply them afterwards, so "what would change" and "what did
// change" are the same data.

export type RuntimeKind = 'containerd' | 'k3s' | 'rke2' | 'crio';

/** One file the installer wants to exist with `after` content (null: must not exist). */
export interface FileChange {
  /** Path as the installer sees it (host root prefix applied). */
  path: string;
  before: Buffer | null;
  after: Buffer | null;
  /** Mode of a new file (default 0644); an existing file keeps its mode and owner... */
  mode?: number;
  /** ...unless this is set: the runtime's own files (artifacts) get exactly `mode`. */
  forceMode?: boolean;
  /** Why: shown in dry-run and reports. */
  reason: string;
  /** Shown as one line (runtime files), not as a diff (config files). */
  summary?: boolean;
}

export function isNoop(c: FileChange): boolean {
  if (c.before === null || c.after === null) return c.before === c.after;
  return c.before.equals(c.after);
}

/** One line of the report each stage returns. */
export interface StageResult {
  stage: 'host-check' | 'artifacts' | 'runtime-config' | 'restart' | 'verify' | 'label' | 'prefetch' | 'cleanup-decision';
  status: 'changed' | 'unchanged' | 'skipped' | 'done' | 'failed' | 'planned';
  detail: string;
}
