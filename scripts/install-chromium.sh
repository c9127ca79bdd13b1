#!/usr/bin/env bash
# Installs the distribution's chromium deb (no recommends) for the browser tests, when /usr/bin/chromium is missing.
# The tests drive it with Playwright for .NET (ExecutablePath=/usr/bin/chromium); no browser is downloaded. Debian has
# the deb. Ubuntu has none: its chromium-browser is a wrapper that installs the snap, which needs snapd and does not run
# in a container; there this stops and says how to provide /usr/bin/chromium. Safe to run again.
set -euo pipefail
SCRIPT_NAME=install-chromium
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
    log "already installed: $CHROMIUM"
    exit 0
fi
require_root
apt_update
candidate=$(apt_candidate chromium)
if [[ -z $candidate ]]; then
    how="install a Chromium or Chrome build that runs headless without a snap (e.g. a deb of chromium from another apt source you trust, or Google Chrome's deb) and make $CHROMIUM run it (a symlink will do), then run this again"
    if os_is_ubuntu; then
        die "$CHROMIUM is missing and this Ubuntu ($(os_release_field PRETTY_NAME)) has no chromium deb: its chromium-browser only installs the snap, which needs snapd and does not run in a container. The browser tests (TtydPorts.AspNetCore.Tests: BrowserTests, TerminalProxyTests) need $CHROMIUM; without it they are skipped, or fail under CI=true. To run them, $how"
    fi
    die "$CHROMIUM is missing and apt has no chromium package here (apt-cache policy chromium). The browser tests need $CHROMIUM; without it they are skipped, or fail under CI=true. To run them, $how"
fi
apt_install chromium
[[ -x $CHROMIUM ]] || die "chromium $candidate is installed but $CHROMIUM is missing"
log "$("$CHROMIUM" --version 2>/dev/null || echo chromium) installed"
