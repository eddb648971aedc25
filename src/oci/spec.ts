// Lossless load and atomic save of an OCI runtime spec (config.json). We edit the raw object,
// never a typed copy, so fields a newer containerd adds survive; integers beyond 2^53 (e.g.
// memory limits of 2^64-1) keep their exact digits.
import { readFileSync } from 'node:fs';
import { LosslessNumber, isSafeNumber, parse, stringify } from 'lossless-json';
import { FloxError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';

export type JsonObject = { [key: string]: unknown };

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  [key: string]: unknown;
}

export interface OciProcess {
  args?: string[];
  env?: string[];
  cwd?: string;
  terminal?: boolean;
  [key: string]: unknown;
}

/** The parts of the spec the runtime reads or edits; everything else rides along untouched. */
export interface OciSpec {
  ociVersion?: string;
  process?: OciProcess;
  root?: { path: string; readonly?: boolean };
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

function parseNumber(text: string): number | LosslessNumber {
  return isSafeNumber(text) ? Number(text) : new LosslessNumber(text);
}

export function parseSpec(text: string, source = 'config.json'): OciSpec {
  let value: unknown;
  try {
    value = parse(text, null, parseNumber);
  } catch (e) {
    throw new FloxError('spec', `${source} is not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FloxError('spec', `${source} is not a JSON object`);
  }
  const spec = value as OciSpec;
  if (spec.annotations !== undefined) {
    const a = spec.annotations as unknown;
    if (a === null || typeof a !== 'object' || Array.isArray(a) || Object.values(a).some((v) => typeof v !== 'string')) {
      throw new FloxError('spec', `${source}: "annotations" must be an object of strings`);
    }
  }
  return spec;
}

export function serializeSpec(spec: OciSpec): string {
  const text = stringify(spec);
  if (text === undefined) throw new FloxError('spec', 'spec could not be serialized');
  return text;
}

export function loadSpecFile(path: string): OciSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FloxError('spec', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseSpec(text, path);
}

export function saveSpecFile(path: string, spec: OciSpec): void {
  writeFileAtomic(path, serializeSpec(spec), { errorKind: 'spec', durable: false });
}

