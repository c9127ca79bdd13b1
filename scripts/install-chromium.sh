#!/usr/bin/env bash
# Installs Debian's chromium (no recommends) for the browser tests, when it is missing. The tests drive it
# with Playwright for .NET (ExecutablePath=/usr/bin/chromium); no browser is downloaded. Safe to run again.
set -euo pipefail
SCRIPT_NAME=install-chromium
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi
require_root
apt_install chromium
[[ -x /usr/bin/chromium ]] || die "chromium is installed but /usr/bin/chromium is missing"
log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed"
