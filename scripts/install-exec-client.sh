#!/usr/bin/env bash
# Compiles native/ttydports-exec (the small Engine API exec client that replaces `docker exec -it` for terminals on a
# Unix-socket engine; ExecClientPath) into /usr/local/lib/ttydports/ttydports-exec, root-owned, mode 0755. Installs
# build-essential when no C compiler is there. Safe to run again: an installed binary built from the same source is kept.
#
# Environment: TTYDPORTS_EXEC_CLIENT (default /usr/local/lib/ttydports/ttydports-exec).
set -euo pipefail
SCRIPT_NAME=install-exec-client
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SOURCE=native/ttydports-exec/ttydports-exec.c
TARGET=${TTYDPORTS_EXEC_CLIENT:-/usr/local/lib/ttydports/ttydports-exec}
STAMP=$TARGET.sha256
[[ -f $SOURCE ]] || die "$SOURCE is missing"
sum=$(sha256sum "$SOURCE" | cut -d' ' -f1)
if [[ -x $TARGET && -f $STAMP && $(cat "$STAMP") == "$sum" && $(stat -c %U:%a "$TARGET") == root:755 ]]; then
    exit 0
fi

require_root
command -v cc >/dev/null 2>&1 || apt_install build-essential
command -v cc >/dev/null 2>&1 || die "build-essential is installed but cc is not on PATH"

work=$(mktemp -d /tmp/ttydports-exec-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
run_quiet cc -O2 -Wall -Wextra -Werror -o "$work/ttydports-exec" "$SOURCE" || die "cc failed on $SOURCE"
# Every folder on the way is root's and 0755, so that only root can replace what ttyd runs for each terminal.
install -d -o root -g root -m 0755 "$(dirname "$TARGET")"
install -o root -g root -m 0755 "$work/ttydports-exec" "$TARGET"
echo "$sum" >"$STAMP"
chmod 0644 "$STAMP"
log "installed $TARGET ($(stat -c %s "$TARGET") bytes)"
