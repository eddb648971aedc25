// TOML handling for runtime configs we do not own.
//
// smol-toml parses faithfully but drops comments and layout when re-serialised, so the installer
// never rewrites a user's file from a parsed tree. Main-file edits are textual: one marked block
// appended at the end (TOML tables may appear in any order, so a new [..runtimes.flox] table at
// the end is valid whatever precedes it) and removed by the same markers. The parser is used
// only to read settings (runc options, imports) and to check that the edited text still parses
// and says what we meant. Files we own entirely (drop-ins) are generated with smol-toml.
import { parse, stringify, TomlError } from 'smol-toml';
import { FloxError } from '../errors.js';

export type TomlTable = Record<string, unknown>;

export const BLOCK_BEGIN = '# >>> flox-runtime: managed block, removed by `flox-runtime uninstall` >>>';
/** Same block, but the file had no final newline: we added one before the block. */
export const BLOCK_BEGIN_NOEOL = '# >>> flox-runtime: managed block (newline added before it), removed by `flox-runtime uninstall` >>>';
export const BLOCK_END = '# <<< flox-runtime <<<';
/** First line of files the installer owns entirely (drop-ins, created templates). */
export const OWNED_HEADER = '# Managed by flox-runtime install; removed by `flox-runtime uninstall`. Do not edit.';

export function parseToml(text: string, source: string): TomlTable {
  try {
    return parse(text, { integersAsBigInt: true }) as TomlTable;
  } catch (e) {
    const msg = e instanceof TomlError ? e.message.split('\n')[0] : (e as Error).message;
    const where = e instanceof TomlError ? ` (line ${e.line}, column ${e.column})` : '';
    throw new FloxError(
      'install',
      `${source} is not valid TOML${where}: ${msg}. Refusing to edit it; fix the file and run the installer again.`,
    );
  }
}

/** Serialises a table we generate; integers stay integers, floats stay floats. */
export function toToml(table: TomlTable): string {
  return stringify(table, { numbersAsFloat: true });
}

export function getTable(t: unknown, path: string[]): TomlTable | undefined {
  let cur: unknown = t;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as TomlTable)[k];
  }
  return cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as TomlTable) : undefined;
}

/** Deep copy of plain TOML data (tables, arrays, scalars; dates are kept as objects). */
export function cloneToml<T>(v: T): T {
  if (Array.isArray(v)) return v.map(cloneToml) as T;
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    const out: TomlTable = {};
    for (const [k, x] of Object.entries(v as TomlTable)) out[k] = cloneToml(x);
    return out as T;
  }
  return v;
}

export function hasBlock(text: string): boolean {
  return text.includes(BLOCK_BEGIN) || text.includes(BLOCK_BEGIN_NOEOL);
}

/** Appends `body` (TOML text) as the marked block. `text` must not contain one already. */
export function appendBlock(text: string, body: string): string {
  const eol = text === '' || text.endsWith('\n');
  const trimmed = body.endsWith('\n') ? body : `${body}\n`;
  return eol ? `${text}${BLOCK_BEGIN}\n${trimmed}${BLOCK_END}\n` : `${text}\n${BLOCK_BEGIN_NOEOL}\n${trimmed}${BLOCK_END}\n`;
}

/** Removes the marked block exactly as appendBlock added it. Text without a block is returned as is. */
export function stripBlock(text: string, source: string): string {
  for (const [begin, lead] of [
    [BLOCK_BEGIN, ''],
    [BLOCK_BEGIN_NOEOL, '\n'],
  ] as const) {
    const at = text.indexOf(`${lead}${begin}\n`);
    if (at < 0) continue;
    if (at > 0 && lead === '' && text[at - 1] !== '\n') continue;
    const endAt = text.indexOf(`${BLOCK_END}\n`, at);
    const endNoEol = endAt < 0 && text.endsWith(BLOCK_END) ? text.length - BLOCK_END.length : -1;
    const end = endAt >= 0 ? endAt + BLOCK_END.length + 1 : endNoEol >= 0 ? text.length : -1;
    if (end < 0) {
      throw new FloxError('install', `${source}: flox-runtime block has a begin marker but no end marker; remove it by hand`);
    }
    return text.slice(0, at) + text.slice(end);
  }
  return text;
}
