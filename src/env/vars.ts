// [vars]: Flox writes them as `export NAME="value"` into activate.d/envrc, ordered so that a
// variable comes after the ones it references (`${OTHER}`). Values made only of literal text
// and plain `$NAME` / `${NAME}` references can be expanded here, without a shell.
import { FloxError } from '../errors.js';

export type VarPart = { lit: string } | { ref: string };

/** Splits a value into literal text and plain references; undefined when a shell is needed. */
export function parseStatic(value: string): VarPart[] | undefined {
  const parts: VarPart[] = [];
  let lit = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '`' || c === '\\') return undefined;
    if (c !== '$') {
      lit += c;
      continue;
    }
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(value.slice(i));
    const bare = braced ? null : /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(value.slice(i));
    const m = braced ?? bare;
    if (!m) return undefined; // $(...), ${X:-y}, $1, $$, a lone $ ...: leave it to the shell
    if (lit) parts.push({ lit });
    lit = '';
    parts.push({ ref: m[1]! });
    i += m[0].length - 1;
  }
  if (lit) parts.push({ lit });
  return parts;
}

/** Names a value refers to (best effort for shell-only values: every $NAME / ${NAME...}). */
export function referencedNames(value: string): string[] {
  const out = new Set<string>();
  for (const m of value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) out.add(m[1]!);
  return [...out];
}

/** Dependency order (manifest order among independent vars); a self reference reads the outer value. */
export function orderVars(vars: Record<string, string>): string[] {
  const names = Object.keys(vars);
  const deps = new Map(names.map((n) => [n, referencedNames(vars[n]!).filter((r) => r !== n && r in vars)]));
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < names.length) {
    const next = names.find((n) => !done.has(n) && deps.get(n)!.every((d) => done.has(d)));
    if (next === undefined) {
      const cyc = names.filter((n) => !done.has(n));
      throw new FloxError('render', `[vars] ${cyc.join(', ')} reference each other in a cycle; break the cycle in the manifest and push`);
    }
    done.add(next);
    order.push(next);
  }
  return order;
}

/** Expands vars statically into env; false (env untouched) when any value needs a shell. */
export function expandStatic(vars: Record<string, string>, env: Record<string, string>): boolean {
  const parsed = new Map<string, VarPart[]>();
  for (const [k, v] of Object.entries(vars)) {
    const p = parseStatic(v);
    if (!p) return false;
    parsed.set(k, p);
  }
  const out: Record<string, string> = {};
  for (const name of orderVars(vars)) {
    const value = parsed
      .get(name)!
      .map((p) => ('lit' in p ? p.lit : (out[p.ref] ?? env[p.ref] ?? '')))
      .join('');
    out[name] = value;
  }
  Object.assign(env, out);
  return true;
}

/** `export NAME="value"` lines as Flox's envrc has them (only `"` escaped: `$` expands, by design). */
export function envrcLines(vars: Record<string, string>): string {
  return orderVars(vars)
    .map((n) => `export ${n}="${vars[n]!.replace(/"/g, '\\"')}"\n`)
    .join('');
}
