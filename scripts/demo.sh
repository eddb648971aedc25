#!/usr/bin/env bash
# The README's first command. On a fresh Debian 12 machine as root: installs what is missing,
# builds, and runs the demo (scripts/demo.mjs). Never touches the machine's own containerd.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "demo: run as root (it starts a private containerd)" >&2; exit 1; fi
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run -s build
exec node scripts/demo.mjs
