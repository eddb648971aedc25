// `owner/name[:N]`: the FloxHub environment a pod names. The parts become a git URL path, a
// branch name and directory names under the state dir, so they are held to a strict subset
// of what FloxHub accepts: no path separators, no `..`, nothing git refuses as a branch.
import { FloxError } from '../errors.js';

export interface EnvironmentRef {
  owner: string;
  name: string;
  /** Pinned generation; absent means the live one. */
  generation?: number;
}

export const ENVIRONMENT_FORM = 'owner/name or owner/name:N (letters, digits, "-", "_", "."; N a generation number ≥ 1)';

const OWNER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

function safePart(s: string, re: RegExp): boolean {
  return re.test(s) && !s.includes('..') && !s.endsWith('.') && !s.endsWith('.lock');
}

export function parseEnvironmentRef(value: string, annotation = 'flox.dev/environment'): EnvironmentRef {
  const fail = (why: string): never => {
    throw new FloxError('annotation', `invalid ${annotation} ${JSON.stringify(value)}: ${why}; expected ${ENVIRONMENT_FORM}`);
  };
  const m = /^([^/:]*)\/([^/:]*)(?::(.*))?$/.exec(value.trim());
  if (!m) return fail('not of the form owner/name');
  const [, owner = '', name = '', gen] = m;
  if (!safePart(owner, OWNER)) fail(`bad owner ${JSON.stringify(owner)}`);
  if (!safePart(name, NAME)) fail(`bad environment name ${JSON.stringify(name)}`);
  if (gen === undefined) return { owner, name };
  if (!/^[1-9][0-9]{0,8}$/.test(gen)) fail(`bad generation ${JSON.stringify(gen)}`);
  return { owner, name, generation: Number(gen) };
}

export function formatEnvironmentRef(ref: EnvironmentRef): string {
  return ref.generation === undefined ? `${ref.owner}/${ref.name}` : `${ref.owner}/${ref.name}:${ref.generation}`;
}
