#!/usr/bin/env bash
# Make a ttyd >= 1.7.4 available (TtydPorts passes -W/--writable, which ttyd 1.7.4 added; older ones refuse it).
# A new enough ttyd already on PATH (or at the install location) is used as is; an older one is reported and replaced.
# Otherwise, in this order:
#   - the distribution's own `ttyd` package, when apt's candidate is new enough (Ubuntu 24.04: 1.7.4; Debian 13);
#   - on Ubuntu (ID or ID_LIKE in /etc/os-release) nothing else: it stops and says what it found and what is needed;
#   - on Debian, build ttyd 1.7.7 from the upstream tarball that Debian's unstable suite ("sid") carries (Debian 12
#     has no ttyd package), against the machine's own libraries, and install it to /usr/local/bin/ttyd.
# Runs as root; safe to run again.
#
# Environment: TTYD_VERSION (default 1.7.7), TTYD_INSTALL_DIR (default /usr/local/bin),
#              DEBIAN_MIRROR_URI (default: the URI of this machine's apt sources, deb822 or one-line).
set -euo pipefail
SCRIPT_NAME=install-ttyd
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TTYD_VERSION=${TTYD_VERSION:-1.7.7}
INSTALL_DIR=${TTYD_INSTALL_DIR:-/usr/local/bin}
TARGET=$INSTALL_DIR/ttyd
BUILD_DEPS=(cmake libwebsockets-dev libjson-c-dev libuv1-dev zlib1g-dev libssl-dev build-essential xz-utils)
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# ready FILE: the ttyd at FILE is new enough; says what it found when it is not.
ready() {
    local v
    v=$(ttyd_version "$1")
    version_ge "$v" "$TTYD_MIN_VERSION" && return 0
    log "$1 is ttyd ${v:-of unknown version} ($("$1" --version 2>&1 | head -n 1)); TtydPorts needs ttyd >= $TTYD_MIN_VERSION (it passes -W, which 1.7.4 added)"
    return 1
}
# check_path INSTALLED: after an install, the ttyd that PATH finds must be new enough (an older one earlier on PATH
# would still be the one TtydPath's default `ttyd` runs).
check_path() {
    local found
    found=$(command -v ttyd 2>/dev/null) || die "installed $1, but no ttyd is on PATH: add $(dirname "$1") to PATH or set TtydPath=$1"
    ready "$found" || die "installed $1, but PATH finds $found first: remove it, put $(dirname "$1") before it on PATH, or set TtydPath=$1"
    log "ttyd ready: $found ($("$found" --version 2>&1 | head -n 1))"
}

existing=$(command -v ttyd 2>/dev/null || true)
if [[ -n $existing ]] && ready "$existing"; then
    log "ttyd already installed: $existing ($("$existing" --version 2>&1 | head -n 1))"
    exit 0
fi
if [[ -x $TARGET && $TARGET != "$existing" ]] && ready "$TARGET"; then
    if [[ -z $existing ]]; then
        log "ttyd already installed: $TARGET, not on PATH ($("$TARGET" --version 2>&1 | head -n 1))"
        exit 0
    fi
    check_path "$TARGET"
    exit 0
fi

require_root
# Fresh lists first: a fresh image has none, and apt's candidate decides the way.
apt_update
candidate=$(apt_candidate ttyd)
if version_ge "$candidate" "$TTYD_MIN_VERSION"; then
    log "the distribution's ttyd $candidate is new enough"
    if pkg_installed ttyd; then
        # An older ttyd package is installed: upgrade it (apt_install skips installed packages).
        run_quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --only-upgrade ttyd \
            || die "apt-get install --only-upgrade ttyd failed"
    else
        apt_install ttyd
    fi
    check_path /usr/bin/ttyd
    exit 0
fi
if os_is_ubuntu; then
    die "TtydPorts needs ttyd >= $TTYD_MIN_VERSION; this machine ($(os_release_field PRETTY_NAME)) has ${existing:+$existing, $(ttyd_version "$existing"), and }apt's candidate ${candidate:-none} (apt-cache policy ttyd). Ubuntu 24.04 and later carry ttyd >= 1.7.4 in universe (enable universe if the candidate is none); Ubuntu 22.04's 1.6 is too old: put a ttyd >= $TTYD_MIN_VERSION on PATH yourself (e.g. $TARGET, built from upstream's source or upstream's release binary) or set TtydPath to it, then run this again"
fi
[[ -r $DEBIAN_KEYRING ]] || die "TtydPorts needs ttyd >= $TTYD_MIN_VERSION and apt offers ${candidate:-none}; building it from Debian's sid sources needs Debian's archive keyring $DEBIAN_KEYRING, which this machine ($(os_release_field PRETTY_NAME)) lacks: put a ttyd >= $TTYD_MIN_VERSION on PATH or set TtydPath to it"

apt_install "${BUILD_DEPS[@]}"

WORK=$(mktemp -d /tmp/ttydports-ttyd-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"   # apt downloads as the _apt user; it must be able to write the download folder

MIRROR=$(debian_mirror_uri) || die "no Debian mirror URI found in /etc/apt/sources.list.d/*.sources, /etc/apt/sources.list or /etc/apt/sources.list.d/*.list (set DEBIAN_MIRROR_URI)"

# A private apt configuration, so that the machine's own sources and lists stay untouched.
mkdir -p "$WORK/lists/partial" "$WORK/src"
echo "deb-src [signed-by=$DEBIAN_KEYRING] $MIRROR sid main" >"$WORK/sources.list"
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
check_path "$TARGET"
