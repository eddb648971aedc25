// Optional warm-up on a fresh node: pull the environments its pods will ask for, so the first
// pod does not wait for the download. The list comes from an env var or a ConfigMap file;
// failures are reported and never fail the install.
import { execa } from 'execa';

const REF = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*(?::\d+)?$/;

/** `owner/name` (or `owner/name:N`) entries separated by commas, spaces or newlines; `#` comments. */
export function parsePrefetchList(text: string): { refs: string[]; invalid: string[] } {
  const refs: string[] = [];
  const invalid: string[] = [];
  for (const line of text.split('\n')) {
    for (const tok of line.replace(/#.*/, '').split(/[\s,]+/)) {
      if (!tok) continue;
      if (REF.test(tok)) {
        if (!refs.includes(tok)) refs.push(tok);
      } else invalid.push(tok);
    }
  }
  return { refs, invalid };
}

export interface PrefetchResult {
  ref: string;
  ok: boolean;
  detail: string;
}

/** Runs `<cli...> env pull <ref>` for each ref, one at a time (they share the node store). */
export async function prefetch(refs: string[], cli: string[], env: NodeJS.ProcessEnv = process.env): Promise<PrefetchResult[]> {
  const out: PrefetchResult[] = [];
  for (const ref of refs) {
    const [file, ...args] = cli;
    const r = await execa(file!, [...args, 'env', 'pull', ref], { reject: false, stdin: 'ignore', env, timeout: 30 * 60_000 });
    const text = `${String(r.stderr ?? '')}`.trim().split('\n').slice(-1)[0] ?? '';
    out.push({ ref, ok: r.exitCode === 0, detail: r.exitCode === 0 ? 'pulled' : `exit ${r.exitCode}: ${text}` });
  }
  return out;
}
