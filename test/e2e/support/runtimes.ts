// Tiny BinaryName scripts for tests: stand-ins for bin/flox-runtime that speak runc's CLI by
// handing over to runc. Each returns the script text; the lab writes it (see HandlerBinary).

/** Quotes a value for a POSIX shell single-quoted word. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `exec runc "$@"`: the cheapest wrapper (about 1 ms per call, cri.md §10). */
export function passThroughScript(): string {
  return '#!/bin/sh\nexec runc "$@"\n';
}

// Shared argv scan: sets $sub (subcommand), $log (--log), $bundle (--bundle), $id (last arg).
const SCAN_ARGV = `sub= log= bundle= prev= id=
for a in "$@"; do
  id=$a
  if [ -n "$prev" ]; then
    case $prev in --log) log=$a;; --bundle|-b) bundle=$a;; esac
    prev=; continue
  fi
  case $a in
    --log|--bundle|-b|--root|--log-format|--criu|--pid-file|--console-socket|--process|-p) prev=$a;;
    --log=*) log=\${a#--log=};;
    --bundle=*) bundle=\${a#--bundle=};;
    -*) ;;
    *) [ -z "$sub" ] && sub=$a;;
  esac
done
`;

/**
 * Fails `create` of app containers (never the sandbox) the way the flox wrapper must: one
 * runc-style JSON error line appended to --log, exit 1. containerd puts that `msg` into the
 * StartContainer error (cri.md §7). Everything else goes to runc.
 */
export function failingCreateScript(message: string): string {
  return `#!/bin/sh
MSG=${shQuote(JSON.stringify(message))}
${SCAN_ARGV}
if [ "$sub" = create ] && grep -q '"io.kubernetes.cri.container-type":"container"' "\${bundle:-.}/config.json"; then
  printf '{"level":"error","msg":%s,"time":"%s"}\\n' "$MSG" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
  exit 1
fi
exec runc "$@"
`;
}

/**
 * Pass-through that records what the wrapper sees: argv lines in `<recordDir>/calls.log`; on
 * `create` the bundle's config.json as `<id>.json`, the wrapper's environment as `<id>.env` and
 * its open fds as `<id>.fds` (`N=target` lines; bash's own script fd 255 left out).
 * Default recordDir: `<lab>/records` (the script lives in <lab>/bin/<handler>).
 */
export function recordingScript(recordDir?: string): string {
  const rec = recordDir === undefined ? 'REC=$(dirname "$0")/../records' : `REC=${shQuote(recordDir)}`;
  // bash, not dash: dash applies a command's redirections in the shell itself (fds 1,2 saved
  // to 10+), which would show up in the fd listing; bash does them in the child
  return `#!/bin/bash
${rec}
${SCAN_ARGV}
mkdir -p "$REC"
printf '%s\\n' "$*" >>"$REC/calls.log"
if [ "$sub" = create ]; then
  cp "\${bundle:-.}/config.json" "$REC/$id.json"
  env >"$REC/$id.env"
  # no pipeline here: bash would hold the pipe's fds while find lists ours
  find /proc/$$/fd -mindepth 1 -printf '%f=%l\\n' >"$REC/$id.fds" 2>/dev/null
  sed -i '/^255=/d' "$REC/$id.fds"
fi
exec runc "$@"
`;
}
