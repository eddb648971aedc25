// A recording stand-in for runc, put first on PATH in binary tests: it records argv, pid, cwd,
// fds 0-2 and the --process file it was given, prints to stdout and stderr, and exits (or dies
// of a signal) as told through the environment.
import { chmodSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = `#!/bin/sh
rec=\${FAKE_RUNC_RECORD:?}
fd0=$(readlink /proc/$$/fd/0) fd1=$(readlink /proc/$$/fd/1) fd2=$(readlink /proc/$$/fd/2)
{
  printf 'pid=%s\\n' "$$"
  printf 'cwd=%s\\n' "$(pwd)"
  printf 'fd0=%s\\nfd1=%s\\nfd2=%s\\n' "$fd0" "$fd1" "$fd2"
  for a in "$@"; do printf 'arg=%s\\n' "$a"; done
} >"$rec"
prev=
for a in "$@"; do
  if [ "$prev" = --process ]; then cp "$a" "$rec.process"; fi
  prev=$a
done
printf 'fake-stdout:%s\\n' "$*"
printf 'fake-stderr\\n' >&2
[ -n "\${FAKE_RUNC_SIGNAL:-}" ] && kill -s "$FAKE_RUNC_SIGNAL" $$
exit "\${FAKE_RUNC_EXIT:-0}"
`;

export interface FakeRuncRecord {
  pid: number;
  cwd: string;
  fds: string[];
  argv: string[];
  process?: string;
}

export function installFakeRunc(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, 'runc');
  writeFileSync(p, SCRIPT);
  chmodSync(p, 0o755);
  return p;
}

export function readRecord(file: string): FakeRuncRecord | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const get = (k: string) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
  const rec: FakeRuncRecord = {
    pid: Number(get('pid')[0]),
    cwd: get('cwd')[0] ?? '',
    fds: [get('fd0')[0] ?? '', get('fd1')[0] ?? '', get('fd2')[0] ?? ''],
    argv: get('arg'),
  };
  if (existsSync(`${file}.process`)) rec.process = readFileSync(`${file}.process`, 'utf8');
  return rec;
}
