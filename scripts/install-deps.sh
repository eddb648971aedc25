#!/usr/bin/env bash
# Installs the Debian packages that the tests, the demo and the benchmarks use.
# Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(runc containerd git nix-bin busybox-static jq gcc libc6-dev util-linux xz-utils zstd bzip2 procps iproute2 e2fsprogs time openssl podman conmon)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]} and not root; install them first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
