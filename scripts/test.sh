#!/usr/bin/env bash
# The README's second command: on a fresh Debian 12 machine as root, installs what the tests
# need and runs every suite (unit, integration against real Nix/git/runc, e2e over CRI).
#
# The suite runs under a deadline (TEST_DEADLINE_S, default 1500 s; a full run takes ~6 min).
# One full run in eight once wedged a vitest worker at exit; rather than letting that eat the
# CI budget, a run that passes the deadline is reported loudly (with what each stuck process
# was waiting on), killed, and run once more. A run that fails is never retried.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund --loglevel=error

deadline=${TEST_DEADLINE_S:-1500}

# What every node process of the run is doing: for a hang report.
report_stuck() {
  local pgid=$1 pid
  echo "=== test run passed its ${deadline} s deadline: processes of the run ===" >&2
  ps -o pid,ppid,stat,etime,wchan:24,args -g "$pgid" >&2 || :
  for pid in $(ps -o pid= -g "$pgid"); do
    echo "--- $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)" >&2
    echo "    fds: $(ls "/proc/$pid/fd" 2>/dev/null | wc -l), threads: $(ls "/proc/$pid/task" 2>/dev/null | wc -l)" >&2
    for t in /proc/"$pid"/task/*; do
      echo "    task ${t##*/} $(cat "$t/stat" 2>/dev/null | cut -d' ' -f3) $(cat "$t/wchan" 2>/dev/null)" >&2
    done
  done
}

# Runs `npm test` in its own process group; 0/1 as npm test returns, 124 after the deadline.
run_suite() {
  setsid npm test &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$deadline" ]; then
      report_stuck "$pid"
      kill -KILL -- "-$pid" 2>/dev/null || :
      wait "$pid" 2>/dev/null || :
      return 124
    fi
    sleep 1
    waited=$((waited + 1))
  done
  wait "$pid"
}

status=0
run_suite || status=$?
if [ "$status" -eq 124 ]; then
  echo "=== the test run hung; running it once more ===" >&2
  status=0
  run_suite || status=$?
fi
exit "$status"
