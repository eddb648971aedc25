// Whether the delegate runtime defines a flag of one of its commands, from its own help text.
// Asked only for an argv that carries a flag runc 1.1/1.2 does not define (never on the path
// containerd or CRI-O take), so the extra process costs nothing in practice.
import { spawnSync } from 'node:child_process';

/** `--name` or `-name` among the options of `<delegate> <command> --help`. */
export function definesFlag(helpText: string, flag: string): boolean {
  const escaped = flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[\\s,])--?${escaped}(?=[\\s,=]|$)`, 'm').test(helpText);
}

export function delegateDefinesFlag(delegate: string, command: string, flag: string): boolean {
  const r = spawnSync(delegate, [command, '--help'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  return typeof r.stdout === 'string' && definesFlag(r.stdout, flag);
}
