#!/usr/bin/env bash
# The README's second command: on a fresh Debian 12 machine as root, installs what the tests
# need and runs every suite (unit, integration against real Nix/git/runc, e2e over CRI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund --loglevel=error
npm test
