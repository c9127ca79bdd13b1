#!/usr/bin/env bash
# Checks the scripts' own logic against fixtures and stubs, by hand (no test project runs scripts): the apt source
# parser (deb822 and one-line, as Debian 12/13 and Ubuntu 22.04/24.04 write them), the os-release and version helpers,
# install-ttyd.sh's choice on Ubuntu (a distribution ttyd new enough, or too old), run-sample.sh's preflight, its check
# that its address is free and its cleanup, the private folders and pid files of the engine scripts and how they tell
# their own process from another, apt_install_engine's policy-rc.d and systemd handling, and test.sh's leak check on a
# fake /proc. Nothing is installed and nothing goes to the network: apt-get, apt-cache, dpkg-query, systemctl, docker
# and id are stubs on PATH, and every host name here is under .invalid. Some checks need root (giving a file to another
# user) and are skipped otherwise. Prints one line per check; exits 1 when any fails.
set -euo pipefail
SCRIPT_NAME=selfcheck
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

FIX=$(mktemp -d /tmp/ttydports-selfcheck.XXXXXX)
listener=""
sleeper=""
trap 'if [[ -n $listener ]]; then kill "$listener" 2>/dev/null || true; fi; if [[ -n $sleeper ]]; then kill "$sleeper" 2>/dev/null || true; fi; rm -rf "$FIX"' EXIT
failures=0
check() { # NAME EXPECTED ACTUAL
    if [[ $2 == "$3" ]]; then echo "ok   $1"; else echo "FAIL $1: expected [$2], got [$3]"; failures=$((failures + 1)); fi
}
check_true() { # NAME CMD...: CMD succeeds
    local name=$1; shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
check_false() { # NAME CMD...: CMD fails
    local name=$1; shift
    if "$@"; then echo "FAIL $name (succeeded)"; failures=$((failures + 1)); else echo "ok   $name"; fi
}
os_release() { # DIR ID ID_LIKE CODENAME
    mkdir -p "$1"
    printf 'PRETTY_NAME="%s %s"\nID=%s\n%sVERSION_CODENAME=%s\n' "$2" "$4" "$2" "${3:+ID_LIKE=\"$3\"$'\n'}" "$4" >"$1/os-release"
}

# 1. apt sources, deb822 (Ubuntu 24.04's ubuntu.sources, with what apt also allows: comments inside a stanza, a
# folded field, lower-case field names, a disabled stanza, a deb-src-only stanza) and a third-party file.
U=$FIX/ubuntu2404/apt
mkdir -p "$U/sources.list.d"
: >"$U/sources.list"   # Ubuntu 24.04 leaves only a comment there
cat >"$U/sources.list.d/ubuntu.sources" <<'EOF'
# Ubuntu sources have moved to this file.
Types: deb
# a comment inside the stanza
URIs: http://archive.ubuntu.invalid/ubuntu/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://security.ubuntu.invalid/ubuntu/
Suites: noble-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Enabled: no
Types: deb
URIs: http://disabled.invalid/ubuntu/
Suites: noble
Components: main

types: deb-src
uris: http://src1.invalid/ubuntu/
 http://src2.invalid/ubuntu/
suites: noble
components: main
EOF
cat >"$U/sources.list.d/aaa-thirdparty.sources" <<'EOF'
Types: deb
URIs: http://thirdparty.invalid/repo
Suites: nodistro
Components: main
EOF
entries=$(APT_ETC=$U apt_source_entries)
check "deb822: stanzas, suites and URIs, in file order" \
"http://thirdparty.invalid/repo nodistro main
http://archive.ubuntu.invalid/ubuntu/ noble main restricted universe multiverse
http://archive.ubuntu.invalid/ubuntu/ noble-updates main restricted universe multiverse
http://archive.ubuntu.invalid/ubuntu/ noble-backports main restricted universe multiverse
http://security.ubuntu.invalid/ubuntu/ noble-security main restricted universe multiverse
http://src1.invalid/ubuntu/ noble main
http://src2.invalid/ubuntu/ noble main" "$entries"
os_release "$FIX/ubuntu2404" ubuntu debian noble
check "deb822: the archive of this release's codename (not a third-party main, not security)" "http://archive.ubuntu.invalid/ubuntu" \
    "$(APT_ETC=$U OS_RELEASE_FILE=$FIX/ubuntu2404/os-release debian_mirror_uri)"

# 2. One-line sources.list (Debian 12 before deb822, Ubuntu 22.04): options in brackets, security listed first,
# a commented line, a trailing comment, a disabled .list file name.
O=$FIX/debian12/apt
mkdir -p "$O/sources.list.d"
cat >"$O/sources.list" <<'EOF'
# deb http://commented.invalid/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.debian.invalid/debian-security bookworm-security main
deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://deb.debian.invalid/debian/ bookworm main contrib # trailing
deb-src http://deb.debian.invalid/debian bookworm main
EOF
echo 'deb http://ignored.invalid/x bookworm main' >"$O/sources.list.d/other.list.disabled"
os_release "$FIX/debian12" debian "" bookworm
check "one-line: entries" \
"http://security.debian.invalid/debian-security bookworm-security main
http://deb.debian.invalid/debian/ bookworm main contrib
http://deb.debian.invalid/debian bookworm main" "$(APT_ETC=$O apt_source_entries)"
check "one-line: the main archive, security skipped" "http://deb.debian.invalid/debian" \
    "$(APT_ETC=$O OS_RELEASE_FILE=$FIX/debian12/os-release debian_mirror_uri)"

# 3. Debian 12/13's deb822 debian.sources together with a one-line .list; no codename match falls back to the first main.
D=$FIX/debian13/apt
mkdir -p "$D/sources.list.d"
cat >"$D/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.invalid/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.invalid/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
echo 'deb http://extra.invalid/debian trixie-backports main' >"$D/sources.list.d/extra.list"
check "deb822 and one-line together" \
"http://deb.debian.invalid/debian trixie main
http://deb.debian.invalid/debian trixie-updates main
http://deb.debian.invalid/debian-security trixie-security main
http://extra.invalid/debian trixie-backports main" "$(APT_ETC=$D apt_source_entries)"
os_release "$FIX/debian13" debian "" trixie
check "deb822 (Debian 13)" "http://deb.debian.invalid/debian" "$(APT_ETC=$D OS_RELEASE_FILE=$FIX/debian13/os-release debian_mirror_uri)"
check "no codename in os-release: the first non-security main" "http://deb.debian.invalid/debian" \
    "$(APT_ETC=$D OS_RELEASE_FILE=/nonexistent debian_mirror_uri)"
check_false "no sources at all: fails" env APT_ETC="$FIX/none" bash -c "source '$HERE/common.sh'; debian_mirror_uri"
check "DEBIAN_MIRROR_URI wins" "http://override.invalid/debian" "$(DEBIAN_MIRROR_URI=http://override.invalid/debian APT_ETC=$D debian_mirror_uri)"

# 4. os-release and versions.
os_release "$FIX/mint" linuxmint "ubuntu debian" wilma
check_true "Ubuntu: ID=ubuntu" env OS_RELEASE_FILE="$FIX/ubuntu2404/os-release" bash -c "source '$HERE/common.sh'; os_is_ubuntu"
check_true "Ubuntu: ID_LIKE has ubuntu" env OS_RELEASE_FILE="$FIX/mint/os-release" bash -c "source '$HERE/common.sh'; os_is_ubuntu"
check_false "Debian is not Ubuntu" env OS_RELEASE_FILE="$FIX/debian12/os-release" bash -c "source '$HERE/common.sh'; os_is_ubuntu"
check "os_release_field unquotes" "ubuntu noble" "$(OS_RELEASE_FILE=$FIX/ubuntu2404/os-release os_release_field PRETTY_NAME)"
check "minimum ttyd" 1.7.4 "$TTYD_MIN_VERSION"
for v in 1.7.4 1.7.4-1build2 1.7.7 1.7.7-4build1 1.8.0; do check_true "version $v >= $TTYD_MIN_VERSION" version_ge "$v" "$TTYD_MIN_VERSION"; done
for v in 1.7.3 1.7.0 1.6.3-3 1.6.3 ""; do check_false "version '$v' < $TTYD_MIN_VERSION" version_ge "$v" "$TTYD_MIN_VERSION"; done
mkdir -p "$FIX/ttyd-old" "$FIX/ttyd-new" "$FIX/ttyd-none"
printf '#!/bin/sh\necho "ttyd version 1.6.3-a2a8dc8"\n' >"$FIX/ttyd-old/ttyd"
printf '#!/bin/sh\necho "ttyd version 1.7.7-unknown"\n' >"$FIX/ttyd-new/ttyd"
printf '#!/bin/sh\necho "usage: ttyd"\n' >"$FIX/ttyd-none/ttyd"
chmod +x "$FIX"/ttyd-*/ttyd
check "ttyd_version 1.6.3" 1.6.3 "$(ttyd_version "$FIX/ttyd-old/ttyd")"
check "ttyd_version 1.7.7" 1.7.7 "$(ttyd_version "$FIX/ttyd-new/ttyd")"
check "ttyd_version none" "" "$(ttyd_version "$FIX/ttyd-none/ttyd")"

# 5. install-ttyd.sh on Ubuntu, with stubs: apt-cache answers a candidate, apt-get installs a fake ttyd, id says root.
# PATH leaves out /usr/local/bin (where this machine's real ttyd may be), TTYD_INSTALL_DIR points into the fixture.
STUB=$FIX/stub
mkdir -p "$STUB/bin"
cat >"$STUB/bin/apt-cache" <<'EOF'
#!/bin/sh
printf '%s:\n  Installed: (none)\n  Candidate: %s\n  Version table:\n' "$2" "${STUB_CANDIDATE:-(none)}"
EOF
cat >"$STUB/bin/apt-get" <<'EOF'
#!/bin/sh
for a in "$@"; do case $a in update) exit 0 ;; ttyd) cp "$STUB_NEW_TTYD" "$STUB_BIN/ttyd"; exit 0 ;; esac; done
echo "apt-get stub: unexpected $*" >&2; exit 1
EOF
# shellcheck disable=SC2016 # the stub's own $1 and $@
printf '#!/bin/sh\nif [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi\n' >"$STUB/bin/id"
chmod +x "$STUB"/bin/*
run_install_ttyd() { # CANDIDATE EXTRA_PATH: install-ttyd.sh's output and exit code
    local out rc=0
    out=$(env STUB_CANDIDATE="$1" STUB_NEW_TTYD="$FIX/ttyd-new/ttyd" STUB_BIN="$STUB/bin" \
        PATH="$STUB/bin${2:+:$2}:/usr/sbin:/usr/bin:/sbin:/bin" TTYD_INSTALL_DIR="$FIX/install" \
        OS_RELEASE_FILE="$FIX/ubuntu2404/os-release" bash "$HERE/install-ttyd.sh" 2>&1) || rc=$?
    rm -f "$STUB/bin/ttyd"
    echo "$rc $out"
}
if [[ -e /usr/bin/ttyd ]]; then
    echo "skip install-ttyd.sh stubs: /usr/bin/ttyd exists here and would be found on the stub PATH"
else
    out=$(run_install_ttyd "" "$FIX/ttyd-new")
    check_true "install-ttyd: ttyd 1.7.7 on PATH is kept" grep -q '^0 install-ttyd: ttyd already installed: .*1.7.7' <<<"$out"
    out=$(run_install_ttyd 1.6.3-3 "$FIX/ttyd-old")
    check_true "install-ttyd: Ubuntu 22.04 (ttyd 1.6.3 on PATH, candidate 1.6.3-3) stops and names both versions" \
        grep -q "^1 .*ttyd-old/ttyd is ttyd 1.6.3 .*needs ttyd >= 1.7.4" <<<"$(tr '\n' ' ' <<<"$out")"
    check_true "install-ttyd: ... and says what is needed" grep -q "ERROR: TtydPorts needs ttyd >= 1.7.4; .*ttyd-old/ttyd, 1.6.3, and apt's candidate 1.6.3-3" <<<"$out"
    out=$(run_install_ttyd "" "")
    check_true "install-ttyd: Ubuntu without universe (no candidate) stops" grep -q "^1 .*apt's candidate none" <<<"$out"
    out=$(run_install_ttyd 1.7.4-1build2 "")
    check_true "install-ttyd: Ubuntu 24.04 (candidate 1.7.4-1build2) installs the distribution's ttyd" \
        grep -q "^0 .*the distribution's ttyd 1.7.4-1build2 is new enough.*ttyd ready: $STUB/bin/ttyd" <<<"$(tr '\n' ' ' <<<"$out")"
fi

# 6. run-sample.sh's address check (its lines from the profile parsing to the first install), against a listener.
port_check=$(sed -n '/^profile=$/,/^scripts\/install-ttyd.sh$/p' "$HERE/run-sample.sh" | sed '$d')
[[ -n $port_check ]] || { echo "FAIL run-sample.sh: its address check was not found"; failures=$((failures + 1)); }
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)' >"$FIX/port" &
listener=$!
for _ in $(seq 50); do [[ -s $FIX/port ]] && break; sleep 0.1; done
port=$(cat "$FIX/port")
sample_check() { # SAMPLE_URL ARGS...: the check's output and exit code
    local out rc=0
    out=$(SAMPLE_URL=$1 bash -c "set -euo pipefail; SCRIPT_NAME=run-sample; source '$HERE/common.sh'; $port_check" _ "${@:2}" 2>&1) || rc=$?
    echo "$rc $out"
}
check_true "run-sample: a taken port is named, with SAMPLE_URL as the way round" \
    grep -q "^1 run-sample: ERROR: port $port is in use: .*SAMPLE_URL=http://127.0.0.1:$((port + 1)) scripts/run-sample.sh$" <<<"$(sample_check "http://127.0.0.1:$port")"
check_true "run-sample --profile netlab: the same" \
    grep -q "^1 .*port $port is in use.*--profile netlab" <<<"$(sample_check "http://localhost:$port" --profile netlab)"
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
listener=""
check "run-sample: a free port passes" "0 " "$(sample_check "http://127.0.0.1:$port")"

# 7. run-sample.sh's preflight, before anything is installed: dotnet on PATH, then root. PATH holds only what the script
# needs up to there (no apt-get at all: reaching it would fail differently).
mkdir -p "$FIX/nodotnet" "$FIX/withdotnet"
for tool in dirname basename; do ln -s "$(command -v "$tool")" "$FIX/nodotnet/$tool"; ln -s "$(command -v "$tool")" "$FIX/withdotnet/$tool"; done
printf '#!/bin/sh\nexit 0\n' >"$FIX/withdotnet/dotnet"
# shellcheck disable=SC2016 # the stub's own $1 and $@
printf '#!/bin/sh\nif [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi\n' >"$FIX/withdotnet/id"
chmod +x "$FIX/withdotnet/dotnet" "$FIX/withdotnet/id"
rc=0; out=$(PATH=$FIX/nodotnet /bin/bash "$HERE/run-sample.sh" 2>&1) || rc=$?
check_true "run-sample: no dotnet: stops first, naming the .NET 10 SDK" grep -q "^1 run-sample: ERROR: dotnet was not found on PATH: install the .NET 10 SDK" <<<"$rc $out"
rc=0; out=$(PATH=$FIX/withdotnet /bin/bash "$HERE/run-sample.sh" 2>&1) || rc=$?
check_true "run-sample: not root: stops before any apt work" grep -q "^1 run-sample: ERROR: must run as root" <<<"$rc $out"

# 8. run-sample.sh's cleanup: one container per `docker rm -f`, each under `timeout 30`; the listing bounded too.
cleanup_fn=$(sed -n '/^cleanup() {$/,/^}$/p' "$HERE/run-sample.sh")
[[ -n $cleanup_fn ]] || { echo "FAIL run-sample.sh: its cleanup function was not found"; failures=$((failures + 1)); }
mkdir -p "$FIX/cli"
# shellcheck disable=SC2016 # the stubs' own variables
printf '#!/bin/sh\necho "$*" >>"$DOCKER_LOG"\ncase $1 in ps) printf "c1\\nc2\\nc3\\n" ;; esac\n' >"$FIX/cli/docker"
# shellcheck disable=SC2016
printf '#!/bin/sh\necho "timeout $1" >>"$DOCKER_LOG"\nshift\nexec "$@"\n' >"$FIX/cli/timeout"
chmod +x "$FIX/cli/docker" "$FIX/cli/timeout"
DOCKER_LOG=$FIX/docker.log PATH="$FIX/cli:$PATH" bash -c "set -euo pipefail; SCRIPT_NAME=run-sample; source '$HERE/common.sh'
    docker='$FIX/cli/docker'; engine_was_up=true; $cleanup_fn
    cleanup" >/dev/null 2>&1 || true
check "run-sample cleanup: bounded listing, then one rm -f per container, each bounded to 30 s" \
"timeout 30
ps -aq --filter label=ttydports.demo=1
timeout 30
rm -f c1
timeout 30
rm -f c2
timeout 30
rm -f c3" "$(cat "$FIX/docker.log" 2>/dev/null)"

# 9. Private folders (the engine scripts' pid files, logs and certificates): made 0700, and refused when anything else
# is there: a link, a folder with another mode, one of another user, one below a folder others can write.
ensure() { bash -c "SCRIPT_NAME=selfcheck; source '$HERE/common.sh'; ensure_private_dir '$1'" 2>&1; }
P=$FIX/private
mkdir -m 0755 "$P"
rc=0; out=$(ensure "$P/state") || rc=$?
check "private folder: made when missing" "0 $EUID 700 directory" "$rc $(stat -c '%u %a %F' "$P/state")"
rc=0; ensure "$P/state" >/dev/null || rc=$?
check "private folder: made again is fine" 0 "$rc"
mkdir -m 0700 "$P/elsewhere"
ln -s "$P/elsewhere" "$P/link"
rc=0; out=$(ensure "$P/link") || rc=$?
check_true "private folder: a link there is refused, not followed" grep -q "^1 .*refusing $P/link: .*symbolic link" <<<"$rc $out"
mkdir -m 0755 "$P/open"
rc=0; out=$(ensure "$P/open") || rc=$?
check_true "private folder: a folder with another mode is refused (not chmodded)" grep -qF "refusing $P/open: $P/open is not a directory of uid $EUID with mode 700 (it is: uid, mode, type = $EUID 755 directory)" <<<"$rc $out"
check "private folder: ... and left as it was" "1 755" "$rc $(stat -c %a "$P/open")"
mkdir -m 0777 "$P/world"
rc=0; out=$(ensure "$P/world/state") || rc=$?
check_true "private folder: below a folder others can write (no sticky bit) it is refused" grep -qF "refusing $P/world/state: $P/world (above $P/world/state) is writable by other users (mode 777)" <<<"$rc $out"
check_false "private folder: ... and not made" test -e "$P/world/state"
chmod 1777 "$P/world"
rc=0; ensure "$P/world/state" >/dev/null || rc=$?
check "private folder: below a sticky folder (as /tmp) it is made" 0 "$rc"
rc=0; out=$(ensure "relative/state") || rc=$?
check_true "private folder: a relative path is refused" grep -q "^1 .*not an absolute path" <<<"$rc $out"
if (( EUID == 0 )); then
    mkdir -m 0700 "$P/theirs"
    chown 4242 "$P/theirs"
    rc=0; out=$(ensure "$P/theirs") || rc=$?
    check_true "private folder: a 0700 folder of another user is refused" grep -qF "(it is: uid, mode, type = 4242 700 directory)" <<<"$rc $out"
    chown 4242 "$P/open"
    rc=0; out=$(ensure "$P/open/state") || rc=$?
    check_true "private folder: below a folder of another user it is refused" grep -qF "$P/open (above $P/open/state) is owned by uid 4242" <<<"$rc $out"
else
    echo "skip private folders of another user: not root"
fi
for dir in "$STATE_DIR" "$LOG_DIR"; do
    check "the scripts' folder $dir is below folders only root can change" "" "$(parents_problem "$dir")"
done
check "the TLS certificates are in the state folder" "$STATE_DIR/tls" "$(env -u TTYDPORTS_TLS_DIR bash -c "source '$HERE/common.sh'; echo \"\$TLS_DIR\"")"
check_true "the tests read the TLS certificates where docker-tls-up.sh makes them (RealParts.TlsCertPath)" \
    grep -qF ': "/run/ttydports-scripts/tls";' "$HERE/../tests/TtydPorts.Testing/RealParts.cs"

# 10. Pid files: only a regular file of this user, with one link, that nobody else can write; LEGACY after FILE.
Q=$FIX/pids
mkdir -m 0700 "$Q"
echo 111 >"$Q/ours.pid"
echo 222 >"$Q/legacy.pid"
check "read_pid: the file" 111 "$(read_pid "$Q/ours.pid" "$Q/legacy.pid")"
check "read_pid: the legacy file when there is no file" 222 "$(read_pid "$Q/none.pid" "$Q/legacy.pid")"
ln -s "$Q/ours.pid" "$Q/link.pid"
check_false "read_pid: a link is not read" read_pid "$Q/link.pid"
ln "$Q/ours.pid" "$Q/hard.pid"
check_false "read_pid: a file with a second (hard) link is not read" read_pid "$Q/hard.pid"
rm -f "$Q/hard.pid"
echo 333 >"$Q/shared.pid"
chmod 0666 "$Q/shared.pid"
check_false "read_pid: a file others can write is not read" read_pid "$Q/shared.pid"
check_false "read_pid: no file" read_pid "$Q/none.pid"
if (( EUID == 0 )); then
    echo 444 >"$Q/theirs.pid"
    chown 4242 "$Q/theirs.pid"
    check_false "read_pid: another user's file (as one planted in /tmp) is not read" read_pid "$Q/theirs.pid"
fi

# 11. proc_is: program (by /proc/PID/exe), effective uid and arguments, against a process of this script's own.
sleep 600 &
sleeper=$!
check_true "proc_is: sleep, this uid, its arguments" proc_is "$sleeper" sleep "$EUID" " 600 "
check_true "proc_is: an argument pattern" proc_is "$sleeper" sleep "$EUID" "* 600 *"
check_false "proc_is: another program" proc_is "$sleeper" dockerd "$EUID" " 600 "
check_false "proc_is: another uid" proc_is "$sleeper" sleep 4242 " 600 "
check_false "proc_is: other arguments" proc_is "$sleeper" sleep "$EUID" " 601 "
check_false "proc_is: no pid" proc_is "" sleep "$EUID" "*"
check_false "pid_is_main_dockerd: not a dockerd" pid_is_main_dockerd "$sleeper"
check_false "pid_is_tls_dockerd: not a dockerd" pid_is_tls_dockerd "$sleeper"
check_false "pid_is_our_podman: not podman" pid_is_our_podman "$sleeper"
ended=$sleeper
kill "$sleeper" 2>/dev/null || true
wait "$sleeper" 2>/dev/null || true
sleeper=""
check_false "proc_is: a process that ended" proc_is "$ended" sleep "$EUID" "*"

# 12. apt_install_engine: during the install a policy-rc.d forbids starting services; afterwards it is gone, and on a
# systemd machine the units of the packages installed just now are disabled and stopped. Stubs: dpkg-query answers from
# a folder of "installed" packages, apt-get records what policy-rc.d answers while it installs (docker.io brings
# containerd), systemctl records its arguments.
E=$FIX/engine
mkdir -p "$E/bin" "$E/installed" "$E/systemd"
# shellcheck disable=SC2016 # the stubs' own variables
printf '#!/bin/sh\nfor last; do :; done\n[ -e "$STUB_INSTALLED/$last" ] && printf installed || printf not-installed\n' >"$E/bin/dpkg-query"
# shellcheck disable=SC2016
printf '%s\n' '#!/bin/sh' \
    'case " $* " in *" update "*) exit 0 ;; esac' \
    'if [ -x "$POLICY_RC_D" ]; then "$POLICY_RC_D" docker start; echo "policy $?" >>"$STUB_LOG"; else echo "no policy" >>"$STUB_LOG"; fi' \
    '[ -n "$STUB_FAIL" ] && exit 1' \
    'for a in "$@"; do case $a in -*|install) ;; *) touch "$STUB_INSTALLED/$a"; [ "$a" = docker.io ] && touch "$STUB_INSTALLED/containerd" ;; esac; done' \
    'exit 0' >"$E/bin/apt-get"
# shellcheck disable=SC2016
printf '#!/bin/sh\necho "systemctl $*" >>"$STUB_LOG"\n' >"$E/bin/systemctl"
chmod +x "$E/bin/"*
engine_install() { # SYSTEMD_DIR [FAIL]: the stubs' log, then the exit code
    rm -f "$E/log"
    local rc=0
    env PATH="$E/bin:$PATH" STUB_INSTALLED="$E/installed" STUB_LOG="$E/log" STUB_FAIL="${2:-}" POLICY_RC_D="$E/policy-rc.d" \
        SYSTEMD_RUN_DIR="$1" bash -c "SCRIPT_NAME=selfcheck; source '$HERE/common.sh'; _APT_UPDATED=1; apt_install_engine docker.io iptables" >/dev/null 2>&1 || rc=$?
    cat "$E/log" 2>/dev/null || true
    echo "rc $rc"
}
check "apt_install_engine, fresh systemd machine: nothing starts during the install, the new units are disabled" \
"policy 101
systemctl disable --now docker.socket docker.service containerd.service
rc 0" "$(engine_install "$E/systemd")"
check_false "apt_install_engine: ... and its policy-rc.d is gone" test -e "$E/policy-rc.d"
check "apt_install_engine, already installed: nothing to do" "rc 0" "$(engine_install "$E/systemd")"
rm -f "$E/installed/"*
check "apt_install_engine, no systemd: the policy during the install, no systemctl" "policy 101
rc 0" "$(engine_install "$E/none")"
rm -f "$E/installed/"*
printf '#!/bin/sh\n# the machine'"'"'s own\nexit 0\n' >"$E/policy-rc.d"
chmod +x "$E/policy-rc.d"
check "apt_install_engine, the machine has a policy-rc.d: it is used as it is; the new units are still disabled" "policy 0
systemctl disable --now docker.socket docker.service containerd.service
rc 0" "$(engine_install "$E/systemd")"
check_true "apt_install_engine: ... and kept" grep -q "the machine's own" "$E/policy-rc.d"
rm -f "$E/policy-rc.d" "$E/installed/"*
touch "$E/installed/containerd"
check "apt_install_engine, containerd there already: only docker's units are disabled" "policy 101
systemctl disable --now docker.socket docker.service
rc 0" "$(engine_install "$E/systemd")"
rm -f "$E/installed/"*
out=$(engine_install "$E/systemd" fail)
check_true "apt_install_engine, a failed install: it fails" grep -q "^rc 1$" <<<"$out"
check_false "apt_install_engine: ... and its policy-rc.d is gone all the same" test -e "$E/policy-rc.d"
if grep -qE '^ *apt_install_engine docker\.io' "$HERE/docker-up.sh" && grep -qE '^ *apt_install_engine docker\.io' "$HERE/docker-tls-up.sh" \
    && grep -qE '^ *apt_install_engine docker\.io' "$HERE/docker-rootless-up.sh" && ! grep -qE '^ *apt_install docker\.io' "$HERE"/*.sh; then
    echo "ok   every script that installs docker.io does it through apt_install_engine"
else
    echo "FAIL a script installs docker.io without apt_install_engine"; failures=$((failures + 1))
fi

# 13. test.sh's leak check (scripts/leaks.sh) on a fake /proc: the run's ttyd and tmux are told from a sample's and from
# a tmux of the user's own.
F=$FIX/proc
fake_proc() { # PID PPID COMM STATE START VAR=VALUE...
    local pid=$1 ppid=$2 comm=$3 state=$4 start=$5
    shift 5
    mkdir -p "$F/$pid"
    echo "$comm" >"$F/$pid/comm"
    echo "$pid ($comm) $state $ppid 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 $start 0 0" >"$F/$pid/stat"
    if (( $# )); then printf '%s\0' "$@" >"$F/$pid/environ"; else : >"$F/$pid/environ"; fi
}
leak_check() { PROC_ROOT=$F RUN_ID=test-1 bash -c "SCRIPT_NAME=selfcheck; source '$HERE/common.sh'; source '$HERE/leaks.sh'; $1"; }
fake_proc 5 1 tmux S 50 TTYDPORTS_INSTANCE=netlab-sample       # a sample's, from before the run
fake_proc 6 1 ttyd S 51 TTYDPORTS_INSTANCE=old-run             # from before the run
leak_check term_processes >"$FIX/before"
leak_check "leak_instances '$FIX/watch'"
fake_proc 10 1 dotnet S 100 TESTRUN_TTYDPORTS=test-1 HOME=/root  # the run's test host
fake_proc 11 10 ttyd S 101 TTYDPORTS_INSTANCE=itest-a HOME=/root # its ttyd (an environment of the library's own)
fake_proc 12 10 ttyd S 102 TESTRUN_TTYDPORTS=test-1              # a ttyd a test started itself
fake_proc 20 1 dotnet S 200 HOME=/root                          # a sample running beside the tests
fake_proc 21 20 ttyd S 201 TTYDPORTS_INSTANCE=netlab-sample
fake_proc 30 1 tmux S 300 HOME=/home/newcomer                   # the user's own tmux
fake_proc 40 10 ttyd Z 400 TTYDPORTS_INSTANCE=itest-a           # a zombie: has exited
leak_check "leak_watch_once '$FIX/watch'"
# The run ends: its host is gone, its ttyd and a tmux server of the same instance are left; the sample made a tmux
# server; a ttyd of an instance nobody saw turns up, and pid 6 now belongs to another process.
rm -rf "${F:?}/10"
fake_proc 11 1 ttyd S 101 TTYDPORTS_INSTANCE=itest-a HOME=/root
fake_proc 13 1 tmux S 103 TTYDPORTS_INSTANCE=itest-a
fake_proc 22 1 tmux S 202 TTYDPORTS_INSTANCE=netlab-sample
fake_proc 50 1 ttyd S 500 TTYDPORTS_INSTANCE=itest-zz
fake_proc 6 1 ttyd S 999 TTYDPORTS_INSTANCE=old-run
check "leak check: the run's own (its ttyd and tmux, a ttyd a test started), the others', and what cannot be told" \
"other 21:201 netlab-sample
other 22:202 netlab-sample
other 30:300 -
other 6:999 old-run
run 11:101 itest-a
run 12:102 -
run 13:103 itest-a
unknown 50:500 itest-zz" "$(leak_check "leak_classify '$FIX/before' '$FIX/watch'" | sort)"
# A local user's forgeries: a marker value with a newline that spells a line of the watcher's file ("run 30:300 ..."),
# and a name with a newline whose stat's first line claims the run's host as parent. Neither makes anything the run's.
fake_proc 10 1 dotnet S 100 TESTRUN_TTYDPORTS=test-1 HOME=/root
fake_proc 60 20 ttyd S 600 $'TTYDPORTS_INSTANCE=x\nrun 30:300 y'
mkdir -p "$F/70"
printf 'tmux) S 10 0 \nx\n' >"$F/70/comm"
printf '70 (tmux) S 10 0 \nx) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 700 0 0\n' >"$F/70/stat"
: >"$F/70/environ"
leak_check "leak_watch_once '$FIX/watch'"
forged=$(leak_check "leak_classify '$FIX/before' '$FIX/watch'")
check "leak check: a forged marker line makes nobody's process the run's" "other 30:300 -|other 60:600 -" \
    "$(grep -E '^[a-z]+ (30|60):' <<<"$forged" | sort | tr '\n' '|' | sed 's/|$//')"
check "leak check: a name with a newline (a forged stat line) is no terminal at all" "" "$(grep -E '^[a-z]+ 70:' <<<"$forged" || true)"
rm -rf "${F:?}/10" "${F:?}/60" "${F:?}/70"
check_true "leak check: still_same knows a process by pid and start time" leak_check "still_same 11:101"
check_false "leak check: ... and not a pid given to another process since" leak_check "still_same 11:100"

# 14. docker-tls-up.sh's certificates (its step 1 alone, with openssl, in a fixture folder; no engine is looked for or
# stopped: the pid files point nowhere and the call of docker-tls-down.sh is replaced): made in a private folder,
# kept when usable, and the folder refused in either case when another user could have made or changed it.
if command -v openssl >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # the script's text, not ours to expand
    cert_step=$(sed -n '/^new_key() {/,/^fi$/p' "$HERE/docker-tls-up.sh" \
        | sed 's#"$(dirname "${BASH_SOURCE\[0\]}")/docker-tls-down.sh"#echo "would stop an engine"; exit 9#')
    if ! grep -q "would stop an engine" <<<"$cert_step" || grep -q "docker-tls-down" <<<"$cert_step"; then
        echo "FAIL docker-tls-up.sh's certificate step was not found as expected; not running it"; failures=$((failures + 1))
        cert_step="exit 1"
    fi
    tls_certs() { # TLS_DIR: the step's output and exit code
        local rc=0 out
        out=$(TTYDPORTS_TLS_DIR=$1 bash -c "set -euo pipefail; SCRIPT_NAME=docker-tls-up; source '$HERE/common.sh'
            TLS_PID_FILE=/nonexistent/tls.pid; TLS_LEGACY_PID_FILE=/nonexistent/legacy.pid; CERT_DAYS=30; $cert_step" 2>&1) || rc=$?
        echo "$rc $out"
    }
    verifies() { openssl verify -CAfile "$1" "${@:2}" >/dev/null 2>&1; }
    C=$FIX/tlscerts
    mkdir -m 0700 "$C"
    check_true "docker-tls-up certificates: made in a new private folder" grep -q "^0 .*making a test CA" <<<"$(tls_certs "$C/tls")"
    check "docker-tls-up certificates: the folders 0700, the keys 0600" "700 700 600 600 600 644" \
        "$(stat -c %a "$C/tls" "$C/tls/wrong" "$C/tls/key.pem" "$C/tls/server-key.pem" "$C/tls/wrong/key.pem" "$C/tls/ca.pem" | tr '\n' ' ' | sed 's/ $//')"
    check_true "docker-tls-up certificates: the client's and the engine's chain to ca.pem" verifies "$C/tls/ca.pem" "$C/tls/cert.pem" "$C/tls/server-cert.pem"
    check_false "docker-tls-up certificates: the wrong client's does not" verifies "$C/tls/ca.pem" "$C/tls/wrong/cert.pem"
    check_true "docker-tls-up certificates: kept when usable" grep -q "^0 .*certificates in $C/tls$" <<<"$(tls_certs "$C/tls")"
    chmod 0755 "$C/tls"
    check_true "docker-tls-up certificates: usable ones in a folder with another mode are refused, not used" \
        grep -q "^1 .*refusing $C/tls: .*755 directory" <<<"$(tls_certs "$C/tls")"
    chmod 0700 "$C/tls"
    mkdir -m 0700 "$C/planted"
    cp -a "$C/tls/." "$C/planted/"
    ln -s "$C/planted" "$C/link"
    check_true "docker-tls-up certificates: a link to a folder of certificates is refused" grep -q "^1 .*refusing $C/link: .*symbolic link" <<<"$(tls_certs "$C/link")"
    if (( EUID == 0 )); then
        chown -R 4242 "$C/planted"
        check_true "docker-tls-up certificates: a folder of usable certificates another user made first is refused" \
            grep -q "^1 .*refusing $C/planted: .*4242 700 directory" <<<"$(tls_certs "$C/planted")"
        chown 4242 "$C/tls/ca.pem"
        check_true "docker-tls-up certificates: a CA file of another user is not used: all are made again" \
            grep -q "^0 .*making a test CA" <<<"$(tls_certs "$C/tls")"
        check "docker-tls-up certificates: ... by root" 0 "$(stat -c %u "$C/tls/ca.pem")"
    fi
else
    echo "skip docker-tls-up certificates: no openssl"
fi

if (( failures )); then echo "selfcheck: $failures check(s) failed"; exit 1; fi
echo "selfcheck: all checks passed"
