#!/usr/bin/env bash
# Make `ttyd` available. A ttyd already on PATH (or at the install location) is used as is.
# Otherwise build ttyd 1.7.7 from the upstream tarball that Debian's unstable suite ("sid") carries
# (Debian 12 has no ttyd package), against Debian 12's own libraries, and install it to
# /usr/local/bin/ttyd. Runs as root; safe to run again.
#
# Environment: TTYD_VERSION (default 1.7.7), TTYD_INSTALL_DIR (default /usr/local/bin),
#              DEBIAN_MIRROR_URI (default: the URI of this machine's apt sources).
set -euo pipefail
SCRIPT_NAME=install-ttyd
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TTYD_VERSION=${TTYD_VERSION:-1.7.7}
INSTALL_DIR=${TTYD_INSTALL_DIR:-/usr/local/bin}
TARGET=$INSTALL_DIR/ttyd
BUILD_DEPS=(cmake libwebsockets-dev libjson-c-dev libuv1-dev zlib1g-dev libssl-dev build-essential xz-utils)

if existing=$(command -v ttyd 2>/dev/null); then
    log "ttyd already installed: $existing ($("$existing" --version 2>&1 | head -n 1))"
    exit 0
fi
if [[ -x $TARGET ]]; then
    log "ttyd already installed: $TARGET, not on PATH ($("$TARGET" --version 2>&1 | head -n 1))"
    exit 0
fi

require_root
apt_install "${BUILD_DEPS[@]}"

WORK=$(mktemp -d /tmp/ttydports-ttyd-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"   # apt downloads as the _apt user; it must be able to write the download folder

MIRROR=$(debian_mirror_uri) || die "no Debian mirror URI found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"

# A private apt configuration, so that the machine's own sources and lists stay untouched.
mkdir -p "$WORK/lists/partial" "$WORK/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR sid main" >"$WORK/sources.list"
chown -R _apt "$WORK/src" 2>/dev/null || true
APT_PRIVATE=(apt-get -q -o "Dir::Etc::sourcelist=$WORK/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$WORK/lists")

log "fetching ttyd_${TTYD_VERSION}.orig.tar.xz from the sid source index of $MIRROR"
run_quiet "${APT_PRIVATE[@]}" update || die "apt-get update of the private sid deb-src list failed"
TARBALL=$WORK/src/ttyd_${TTYD_VERSION}.orig.tar.xz
# The .dsc may not be served while the .orig.tar.xz is: then --download-only fails as a whole although
# the tarball arrived. So judge by the tarball, not by the exit code.
(cd "$WORK/src" && "${APT_PRIVATE[@]}" source --download-only "ttyd" >"$WORK/source.log" 2>&1) || true
if [[ ! -s $TARBALL ]]; then
    cat "$WORK/source.log" >&2
    echo "files fetched: $(find "$WORK/src" -mindepth 1 -printf '%f ')" >&2
    die "ttyd_${TTYD_VERSION}.orig.tar.xz was not fetched (sid may carry another ttyd version now; set TTYD_VERSION)"
fi

log "building ttyd $TTYD_VERSION with cmake"
tar -C "$WORK" -xJf "$TARBALL"
SRC=$WORK/ttyd-$TTYD_VERSION
[[ -f $SRC/CMakeLists.txt ]] || die "unexpected tarball layout: $SRC/CMakeLists.txt missing"
run_quiet cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release || die "cmake configure failed"
run_quiet cmake --build "$WORK/build" -j "$(nproc)" || die "ttyd build failed"

install -D -m 0755 "$WORK/build/ttyd" "$TARGET"
log "installed $TARGET: $("$TARGET" --version 2>&1 | head -n 1)"
