#!/usr/bin/env bash
# What a Native AOT publish needs on Debian/Ubuntu besides the .NET SDK: a C toolchain to link (clang) and zlib's
# headers. The test suite publishes a small consumer with Native AOT (AotPublishTests). Runs as root; safe to run again.
set -euo pipefail
SCRIPT_NAME=install-aot-deps
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEPS=(clang zlib1g-dev)
missing=0
for p in "${DEPS[@]}"; do pkg_installed "$p" || missing=1; done
if (( ! missing )); then
    log "already installed: ${DEPS[*]}"
    exit 0
fi
require_root
apt_install "${DEPS[@]}"
log "installed: ${DEPS[*]}"
