#!/usr/bin/env bash
# Installs Debian's tmux, which keeps every session's shell alive across reloads (PersistentShells, on by default),
# when it is missing. Safe to run again.
set -euo pipefail
SCRIPT_NAME=install-tmux
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if command -v tmux >/dev/null 2>&1; then
    exit 0
fi
require_root
apt_install tmux
command -v tmux >/dev/null 2>&1 || die "tmux is installed but not on PATH"
log "$(tmux -V) installed"
