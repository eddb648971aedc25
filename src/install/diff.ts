// Unified-style diff for --dry-run output. Config files are small, so a plain LCS table is fine.
import type { FileChange } from './types.js';

function isText(b: Buffer): boolean {
  return b.length < 1_000_000 && !b.includes(0);
}

export function lineDiff(a: string, b: string, context = 3): string[] {
  const x = a === '' ? [] : a.replace(/\n$/, '').split('\n');
  const y = b === '' ? [] : b.replace(/\n$/, '').split('\n');
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { t: ' ' | '-' | '+'; s: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ t: ' ', s: x[i]! });
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) ops.push({ t: '+', s: y[j++]! });
    else ops.push({ t: '-', s: x[i++]! });
  }
  const keep = ops.map((o, k) => o.t !== ' ' || ops.slice(Math.max(0, k - context), k + context + 1).some((p) => p.t !== ' '));
  const out: string[] = [];
  let skipped = false;
  ops.forEach((o, k) => {
    if (keep[k]) {
      if (skipped) out.push('@@');
      skipped = false;
      out.push(`${o.t}${o.s}`);
    } else skipped = true;
  });
  return out;
}

export function describeChange(c: FileChange): string {
  const action = c.before === null ? 'create' : c.after === null ? 'delete' : 'update';
  const head = `${action} ${c.path}  (${c.reason})`;
  const before = c.before ?? Buffer.alloc(0);
  const after = c.after ?? Buffer.alloc(0);
  if (c.summary) return `${head}: ${before.length} -> ${after.length} bytes`;
  if (!isText(before) || !isText(after)) return `${head}\n  binary, ${before.length} -> ${after.length} bytes`;
  // whole new or removed files: a glimpse is enough (config edits get a full diff)
  if (action !== 'update') {
    const lines = (action === 'create' ? after : before).toString('utf8').replace(/\n$/, '').split('\n');
    if (lines.length > 12) {
      const sign = action === 'create' ? '+' : '-';
      return [head, ...lines.slice(0, 8).map((l) => `${sign}${l}`), `${sign}... (${lines.length - 8} more lines)`].join('\n');
    }
  }
  return [head, `--- ${c.before === null ? '/dev/null' : c.path}`, `+++ ${c.after === null ? '/dev/null' : c.path}`, ...lineDiff(before.toString('utf8'), after.toString('utf8'))].join('\n');
}
