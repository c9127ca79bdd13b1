# shellcheck shell=bash disable=SC2034 # its variables are for the scripts that source it
# Helpers shared by the scripts in this folder. Source it; do not run it.
# Never write a mirror or registry host name here: take them from the machine's apt configuration.

# log MESSAGE: one line on stdout, prefixed with the calling script's name.
log() { echo "${SCRIPT_NAME:-$(basename "$0" .sh)}: $*"; }

# die MESSAGE: one line on stderr, then exit 1.
die() { echo "${SCRIPT_NAME:-$(basename "$0" .sh)}: ERROR: $*" >&2; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (uses apt-get and starts system services)"; }

# remove_containers DOCKER_CMD... -- ID...: `rm -f` one container at a time, each bounded to REMOVE_TIMEOUT seconds
# (default 60). Docker 20.10 (Debian's) can deadlock when containers leave a network concurrently (moby#46661:
# libnetwork's getSvcRecords against processEndpointDelete); one at a time keeps that unlikely, and the bound turns a hung
# engine into an error instead of a hang, so that the engine is still stopped. Fails when any removal failed.
remove_containers() {
    local cmd=() id failed=0 bound=${REMOVE_TIMEOUT:-60}
    while (( $# )) && [[ $1 != -- ]]; do cmd+=("$1"); shift; done
    shift
    for id in "$@"; do
        # A function of ours (tls_docker, rootless_docker) bounds its own CLI with CLI_TIMEOUT; `timeout` runs programs only.
        if declare -F "${cmd[0]}" >/dev/null; then
            CLI_TIMEOUT=$bound run_quiet "${cmd[@]}" rm -f "$id" || { log "could not remove container $id (the engine may be hung)"; failed=1; }
        else
            run_quiet timeout "$bound" "${cmd[@]}" rm -f "$id" || { log "could not remove container $id (the engine may be hung)"; failed=1; }
        fi
    done
    return "$failed"
}

# test_containers NAME CLI...: the test containers (label ttydports.test=1) on one engine, one NAME:ID a line, or
# NAME:not-answering when the engine did not list them within 60 s (a hung engine is a failure, not a clean engine).
test_containers() {
    local name=$1 out id
    shift
    if declare -F "$1" >/dev/null; then
        out=$(CLI_TIMEOUT=60 "$@" ps -aq --filter label=ttydports.test=1) || { echo "$name:not-answering"; return 0; }
    else
        out=$(timeout 60 "$@" ps -aq --filter label=ttydports.test=1) || { echo "$name:not-answering"; return 0; }
    fi
    for id in $out; do echo "$name:$id"; done
}

# run_quiet CMD...: run CMD with its output captured; print the output only if it fails.
run_quiet() {
    local out rc=0
    out=$(mktemp)
    "$@" >"$out" 2>&1 || rc=$?
    if (( rc != 0 )); then
        echo "--- output of: $* (exit $rc) ---" >&2
        tail -n 60 "$out" >&2
        echo "---" >&2
    fi
    rm -f "$out"
    return "$rc"
}

# pkg_installed NAME: true when the Debian package NAME is installed.
pkg_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

# apt_lists_fresh: true when the machine's package lists exist and are less than a day old.
apt_lists_fresh() {
    [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null) ]]
}

_APT_UPDATED=0
# apt_update [force]: run `apt-get update` once per script run, and only when the lists are empty or old
# (or when "force" is given).
apt_update() {
    if (( _APT_UPDATED )); then return 0; fi
    if [[ ${1:-} != force ]] && apt_lists_fresh; then return 0; fi
    log "apt-get update"
    run_quiet apt-get update || die "apt-get update failed"
    _APT_UPDATED=1
}

# apt_install PKG...: install the packages that are missing (no recommends), quietly.
apt_install() {
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    (( ${#missing[@]} )) || return 0
    apt_update
    log "apt-get install ${missing[*]}"
    local cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}")
    if ! run_quiet "${cmd[@]}"; then
        # Lists that are fresh by age can still be out of date (a 404 on a replaced .deb): refresh once, retry.
        (( _APT_UPDATED )) && die "apt-get install ${missing[*]} failed"
        apt_update force
        run_quiet "${cmd[@]}" || die "apt-get install ${missing[*]} failed"
    fi
}

# apt_install_engine PKG...: apt_install PKG... (docker.io among them) without the services the install would start.
# On a machine run by systemd (or sysvinit), the maintainer scripts of docker.io and containerd start docker.service
# (which sets up the docker0 bridge and iptables rules) and containerd.service, and enable them and docker.socket for
# every boot; these scripts start an engine of their own instead (no bridge, no iptables), which their -down stops, so
# that nothing they brought keeps running. So during the install a policy-rc.d answers 101 ("action forbidden"), which
# invoke-rc.d and deb-systemd-invoke ask before they start anything (a policy-rc.d the machine has already is left as
# it is), and afterwards the units of the packages this call installed are disabled and stopped on a systemd machine
# (`systemctl enable --now docker.service` turns the distribution's engine on again). POLICY_RC_D, SYSTEMD_RUN_DIR:
# fixtures.
apt_install_engine() {
    local systemd=${SYSTEMD_RUN_DIR:-/run/systemd/system} had_docker=false had_containerd=false units=() saved_trap
    _ENGINE_POLICY=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
    pkg_installed docker.io && had_docker=true
    pkg_installed containerd && had_containerd=true
    saved_trap=$(trap -p EXIT)
    _ENGINE_POLICY_OURS=false
    if ! { $had_docker && $had_containerd; } && [[ ! -e $_ENGINE_POLICY && ! -L $_ENGINE_POLICY ]]; then
        trap 'if $_ENGINE_POLICY_OURS; then rm -f "$_ENGINE_POLICY"; fi' EXIT
        printf '#!/bin/sh\n# Written by TtydPorts scripts/common.sh for one apt-get install, and removed after it.\nexit 101\n' >"$_ENGINE_POLICY"
        chmod 0755 "$_ENGINE_POLICY"
        _ENGINE_POLICY_OURS=true
    fi
    apt_install "$@"
    if $_ENGINE_POLICY_OURS; then rm -f "$_ENGINE_POLICY"; _ENGINE_POLICY_OURS=false; fi
    if [[ -n $saved_trap ]]; then eval "$saved_trap"; else trap - EXIT; fi
    if ! $had_docker && pkg_installed docker.io; then units+=(docker.socket docker.service); fi
    if ! $had_containerd && pkg_installed containerd; then units+=(containerd.service); fi
    if (( ${#units[@]} )) && [[ -d $systemd ]]; then
        log "disabling ${units[*]} (installed just now): this script runs an engine of its own"
        run_quiet systemctl disable --now "${units[@]}" || log "systemctl disable --now ${units[*]} failed; see above"
    fi
}

# need_command CMD PKG: make CMD available, installing the package PKG when it is missing (minimal images have no
# procps, whose ps and pgrep `running` and the *-down.sh scripts use, and no curl).
need_command() {
    command -v "$1" >/dev/null 2>&1 && return 0
    require_root
    apt_install "$2"
    command -v "$1" >/dev/null 2>&1 || die "$2 is installed but $1 is not on PATH"
}

# os_release_field NAME: the field NAME of /etc/os-release (OS_RELEASE_FILE for a fixture), unquoted; empty when absent.
os_release_field() {
    local file=${OS_RELEASE_FILE:-/etc/os-release} line value
    [[ -r $file ]] || return 0
    line=$(grep -m1 "^$1=" "$file" 2>/dev/null || true)
    value=${line#*=}
    value=${value#[\"\']}
    value=${value%[\"\']}
    echo "$value"
}

# os_is_ubuntu: this machine is Ubuntu or derived from it (ID=ubuntu, or ubuntu in ID_LIKE).
os_is_ubuntu() {
    [[ $(os_release_field ID) == ubuntu || " $(os_release_field ID_LIKE) " == *" ubuntu "* ]]
}

# version_ge A B: the Debian version A is B or later (1.7.4-1build2 >= 1.7.4). An empty A is not.
version_ge() { [[ -n $1 ]] && dpkg --compare-versions "$1" ge "$2"; }

# The oldest ttyd the library can run: it passes -W/--writable (TtydLaunchBuilder), which ttyd 1.7.4 added (before it,
# ttyd was writable by default and had -R/--readonly; -W is an unknown option there).
TTYD_MIN_VERSION=1.7.4

# ttyd_version PATH: the version PATH reports (`ttyd version 1.7.7-unknown` gives 1.7.7), empty when it says none.
ttyd_version() { "$1" --version 2>&1 | grep -m1 -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' || true; }

# apt_candidate PKG: the version apt would install for PKG (apt-cache policy's Candidate), empty when none.
apt_candidate() {
    local v
    v=$(LC_ALL=C apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
    [[ $v == "(none)" ]] && v=""
    echo "$v"
}

# apt_source_entries: this machine's enabled apt sources, one "URI SUITE COMPONENT..." line per URI and suite, from the
# deb822 files (sources.list.d/*.sources: Types/URIs/Suites/Components stanzas, as Ubuntu 24.04 and Debian 13 write
# them) and the one-line files (sources.list, sources.list.d/*.list), in the order apt reads the deb822 ones first here.
# APT_ETC (default /etc/apt) points it at a fixture.
apt_source_entries() {
    local etc=${APT_ETC:-/etc/apt} f
    for f in "$etc"/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        # Paragraph mode: one stanza per record. Field names are case-insensitive; a line starting with a blank
        # continues the field before it; comment lines are skipped; "Enabled: no" turns a stanza off.
        awk 'BEGIN { RS = ""; FS = "\n" }
            function flush() {
                if (name == "types") types = value; else if (name == "uris") uris = value
                else if (name == "suites") suites = value; else if (name == "components") comps = value
                else if (name == "enabled") enabled = value
                name = ""; value = ""
            }
            {
                types = ""; uris = ""; suites = ""; comps = ""; enabled = "yes"; name = ""; value = ""
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    if (line ~ /^[ \t]/) { sub(/^[ \t]+/, "", line); if (line != ".") value = value " " line; continue }
                    flush()
                    if (index(line, ":") == 0) continue
                    name = tolower(substr(line, 1, index(line, ":") - 1)); value = substr(line, index(line, ":") + 1)
                }
                flush()
                gsub(/[ \t]+/, " ", types); gsub(/^ +| +$/, "", enabled)
                if (tolower(enabled) == "no" || (" " types " ") !~ / deb(-src)? /) next
                nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/); gsub(/[ \t]+/, " ", comps); gsub(/^ +| +$/, "", comps)
                for (a = 1; a <= nu; a++) { if (u[a] == "") continue
                    for (b = 1; b <= ns; b++) if (s[b] != "") print u[a], s[b], comps }
            }' "$f"
    done
    for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        awk '$1 == "deb" || $1 == "deb-src" {
                i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                line = $i " " $(i + 1); for (j = i + 2; j <= NF && $j !~ /^#/; j++) line = line " " $j
                print line
            }' "$f"
    done
}

# debian_mirror_uri: the main archive URI of this machine's apt configuration (apt_source_entries: deb822 or one-line):
# the first entry for this release's codename with the main component, else the first non-security entry with main.
# Overridable with DEBIAN_MIRROR_URI.
debian_mirror_uri() {
    if [[ -n ${DEBIAN_MIRROR_URI:-} ]]; then echo "$DEBIAN_MIRROR_URI"; return 0; fi
    local entries uri
    entries=$(apt_source_entries)
    uri=$(awk -v codename="$(os_release_field VERSION_CODENAME)" '
        { main = 0; for (i = 3; i <= NF; i++) if ($i == "main") main = 1 }
        main && $2 !~ /-security/ {
            if (codename != "" && $2 == codename) { print $1; found = 1; exit }
            if (first == "") first = $1
        }
        END { if (!found && first != "") print first }' <<<"$entries")
    [[ -n $uri ]] || return 1
    echo "${uri%/}"
}

# docker_client: the docker CLI to use. Debian's docker.io client (/usr/bin/docker) matches the engine that
# docker-up.sh starts; another `docker` on PATH (e.g. /usr/local/bin/docker, a different version) is the fallback.
docker_client() {
    if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else command -v docker 2>/dev/null || true; fi
}

# running PID: the process exists and is not a zombie (a zombie has exited; its parent just has not reaped it).
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ -n $st && $st != Z* ]]; }

# terminate PID NAME TIMEOUT: SIGTERM, up to TIMEOUT seconds for PID to exit, then SIGKILL; fails when it still runs.
# Every *-down.sh stops what its *-up.sh recorded this way; NAME is for the log.
terminate() {
    local pid=$1 name=$2 timeout=$3 deadline
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while running "$pid" && (( SECONDS < deadline )); do sleep 0.1; done
    if running "$pid"; then
        log "$name (pid $pid) still running after ${timeout}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    fi
    ! running "$pid"
}

# --- The scripts' own files. They run as root; a fixed name in /tmp (world-writable, and fs.protected_symlinks may be
# 0) can be taken first by any local user: a link there makes root overwrite the file it points to, a folder of theirs
# makes root start an engine that trusts their CA, a pid file of theirs makes a -down script signal a process of their
# choice. So the engines' pid files and the TLS engine's certificates are kept in STATE_DIR and their logs in LOG_DIR:
# folders of root, mode 0700, that ensure_private_dir makes and checks again before every use; and a pid read from a
# file is signalled only when its process is the engine the -up script starts (the pid_is_* checks below).
STATE_DIR=/run/ttydports-scripts          # pid files; the TLS certificates in tls/
LOG_DIR=/var/lib/ttydports-scripts        # the engines' logs: on disk, as they grow (/run is often a small tmpfs; Ubuntu's
                                          # /var/log is group-writable, which parents_problem refuses)

# parents_problem PATH: why the folders above PATH are not safe for it, or nothing: each must be owned by root or this
# user and writable by nobody else, a world-writable one only with the sticky bit (as /tmp: then nobody else can rename
# what is ours in it); a link on the way must be root's or this user's, and where it leads is checked the same way. The
# rule the library's RuntimeFolder applies to its folders (OpenSSH's StrictModes).
parents_problem() {
    local path=$1 dir st uid mode type inner
    dir=$(dirname -- "$path")
    while :; do
        st=$(stat -c '%u %a %F' -- "$dir" 2>/dev/null) || { echo "$dir (above $path) cannot be read"; return 0; }
        read -r uid mode type <<<"$st"
        if [[ $uid != 0 && $uid != "$EUID" ]]; then echo "$dir (above $path) is owned by uid $uid"; return 0; fi
        if [[ $type == "symbolic link" ]]; then
            inner=$(parents_problem "$(readlink -f -- "$dir")/x")
            if [[ -n $inner ]]; then echo "$inner"; return 0; fi
        elif (( (8#$mode & 8#022) != 0 && (8#$mode & 8#1000) == 0 )); then
            echo "$dir (above $path) is writable by other users (mode $mode)"; return 0
        fi
        [[ $dir == / ]] && return 0
        dir=$(dirname -- "$dir")
    done
}

# private_dir_problem DIR: why DIR is not a private folder of this user, or nothing: a real directory (not a link),
# owned by this user, mode 0700, below folders that pass parents_problem.
private_dir_problem() {
    local st
    [[ $1 == /* ]] || { echo "$1 is not an absolute path"; return 0; }
    st=$(stat -c '%u %a %F' -- "$1" 2>/dev/null) || { echo "$1 does not exist"; return 0; }
    [[ $st == "$EUID 700 directory" ]] || { echo "$1 is not a directory of uid $EUID with mode 700 (it is: uid, mode, type = $st)"; return 0; }
    parents_problem "$1"
}

# ensure_private_dir DIR: make DIR a private folder of this user (mode 0700 from the start; mkdir never follows a link
# and fails on anything already there), then check it whether this call made it or not; dies naming what is wrong
# (something another user put there is refused, never taken over or changed).
ensure_private_dir() {
    local problem
    [[ $1 == /* ]] || die "refusing $1: not an absolute path"
    problem=$(parents_problem "$1")
    [[ -z $problem ]] || die "refusing $1: $problem"
    if [[ ! -e $1 && ! -L $1 ]] && ! mkdir -m 0700 -- "$1" 2>/dev/null && [[ ! -e $1 && ! -L $1 ]]; then
        die "could not make the folder $1 (does its parent exist?)"
    fi
    problem=$(private_dir_problem "$1")
    [[ -z $problem ]] || die "refusing $1: $problem. Something another user made may be there: look at it, remove it, and run again"
}

# read_pid FILE [LEGACY]: the pid recorded in FILE, else in LEGACY (where scripts kept it before the state folder, in
# /tmp, so that an engine they started is still found and stopped). Only a regular file of this user with one link
# that nobody else can write counts (in /tmp, another user's file, a link, or a hard link to a file of root's such as
# /run/docker.pid is not ours); even so the caller signals the pid only after its pid_is_* check. Fails when neither
# holds a number.
read_pid() {
    local f pid uid links mode
    for f in "$@"; do
        [[ -f $f && ! -L $f ]] || continue
        read -r uid links mode < <(stat -c '%u %h %a' -- "$f" 2>/dev/null) || continue
        if [[ $uid != "$EUID" || $links != 1 ]] || (( (8#$mode & 8#022) != 0 )); then continue; fi
        pid=$(head -c 32 -- "$f" 2>/dev/null | tr -dc '0-9')
        if [[ -n $pid ]]; then echo "$pid"; return 0; fi
    done
    return 1
}

# write_pid FILE PID: record PID in FILE, a name in the state folder (checked again first).
write_pid() { ensure_private_dir "$STATE_DIR"; echo "$2" >"$1"; }

# proc_is PID PROGRAM UID ARGS: PID is a live process that runs PROGRAM (the file name of /proc/PID/exe: the program
# itself, not a name a process gives itself) as the effective user UID, with arguments (after the program) that match
# the pattern ARGS, written with one space before each argument and one at the end (" --flag value ").
proc_is() {
    local pid=${1:-} exe uid args
    [[ $pid =~ ^[1-9][0-9]*$ ]] && running "$pid" || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    [[ ${exe##*/} == "$2" ]] || return 1
    uid=$(awk '$1 == "Uid:" { print $3; exit }' "/proc/$pid/status" 2>/dev/null)
    [[ $uid == "$3" ]] || return 1
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    if [[ $args == *" "* ]]; then args=" ${args#* }"; else args=" "; fi
    # shellcheck disable=SC2053 # $4 is a pattern
    [[ $args == $4 ]]
}

# The main Docker engine, when no engine answers (scripts/docker-up.sh and -down.sh): these arguments exactly.
DOCKERD_ARGS=(--iptables=false --ip-masq=false --bridge=none --storage-driver=vfs)
DOCKER_PID_FILE=$STATE_DIR/dockerd.pid                     # written by up: down stops only this pid, and only pid_is_main_dockerd
DOCKER_LOG_FILE=$LOG_DIR/dockerd.log
DOCKER_LEGACY_PID_FILE=/tmp/ttydports-dockerd.pid          # read only, to stop an engine scripts of before started

# pid_is_main_dockerd PID: the dockerd docker-up.sh starts: root's, with exactly DOCKERD_ARGS (the TLS engine's has more,
# a distribution's service other ones).
pid_is_main_dockerd() { proc_is "${1:-}" dockerd 0 " ${DOCKERD_ARGS[*]} "; }

# The second Docker engine, on loopback TCP with TLS client certificates (scripts/docker-tls-up.sh and -down.sh).
# One place for its paths, so that up and down (and test.sh's leak check) agree.
TLS_PORT=${TTYDPORTS_TLS_PORT:-23760}
TLS_DIR=${TTYDPORTS_TLS_DIR:-$STATE_DIR/tls}               # ca.pem, cert.pem, key.pem: a DOCKER_CERT_PATH
TLS_DATA_ROOT=/var/lib/ttydports-docker-tls                # never the main engine's /var/lib/docker
TLS_EXEC_ROOT=/run/ttydports-docker-tls                    # never the main engine's /var/run/docker
TLS_PID_FILE=$STATE_DIR/dockerd-tls.pid                    # written by up: down stops only this pid, and only pid_is_tls_dockerd
TLS_LOG_FILE=$LOG_DIR/dockerd-tls.log
TLS_LEGACY_PID_FILE=/tmp/ttydports-dockerd-tls.pid

# pid_is_tls_dockerd PID: the TLS engine: root's dockerd on our exec root (which no other dockerd can share).
pid_is_tls_dockerd() { proc_is "${1:-}" dockerd 0 "* --exec-root $TLS_EXEC_ROOT *"; }

# tls_docker ARGS...: the docker CLI against the TLS engine with our client certificate. The caller's DOCKER_HOST,
# DOCKER_CONTEXT and DOCKER_CERT_PATH must not pick another engine or certificate, hence the env -u.
tls_docker() {
    local bound=()
    if [[ -n ${CLI_TIMEOUT:-} ]]; then bound=(timeout "$CLI_TIMEOUT"); fi
    "${bound[@]}" env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_CERT_PATH -u DOCKER_TLS_VERIFY "$(docker_client)" \
        --tlsverify --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/cert.pem" --tlskey "$TLS_DIR/key.pem" \
        -H "tcp://127.0.0.1:$TLS_PORT" "$@"
}

# Podman for the tests (scripts/podman-up.sh and -down.sh): rootful, with configuration and storage of our own, so
# that neither /etc/containers nor another podman's storage is read or touched. The same two variables must reach
# every podman that works on this storage (the service and a local `podman exec`).
PODMAN_ROOT=/var/lib/ttydports-podman                      # containers.conf, storage.conf, storage/
PODMAN_RUN=/run/ttydports-podman                           # podman.sock, runroot, libpod tmp, events log
PODMAN_SOCK=$PODMAN_RUN/podman.sock
PODMAN_PID_FILE=$STATE_DIR/podman.pid                     # the API service up started: down stops only this pid, and only pid_is_our_podman
PODMAN_LOG_FILE=$LOG_DIR/podman.log
PODMAN_LEGACY_PID_FILE=/tmp/ttydports-podman.pid

# pid_is_our_podman PID: the API service podman-up.sh starts: root's podman serving our socket.
pid_is_our_podman() { proc_is "${1:-}" podman 0 "* system service * unix://$PODMAN_SOCK *"; }

# test_podman ARGS...: the local podman CLI on our configuration and storage (never a remote one the caller's
# CONTAINER_HOST or CONTAINER_CONNECTION would pick).
test_podman() {
    local bound=()
    if [[ -n ${CLI_TIMEOUT:-} ]]; then bound=(timeout "$CLI_TIMEOUT"); fi
    "${bound[@]}" env -u CONTAINER_HOST -u CONTAINER_CONNECTION CONTAINERS_CONF="$PODMAN_ROOT/containers.conf" CONTAINERS_STORAGE_CONF="$PODMAN_ROOT/storage.conf" podman "$@"
}

# Rootless Docker for the tests (scripts/docker-rootless-up.sh and -down.sh): a dockerd run by an unprivileged user of
# its own, in RootlessKit's user namespace, as a lab host that is not root would use it. The user, its subordinate ids
# and its data ($HOME/.local/share/docker, with the test image) are made once and kept; only the engine is stopped.
ROOTLESS_USER=ttydports-rl                                  # fixed: the tests look it up by this name
ROOTLESS_HOME=/var/lib/$ROOTLESS_USER                      # the user's home: Docker's rootless data root is under it
ROOTLESS_PID_FILE=$STATE_DIR/dockerd-rootless.pid         # rootlesskit, the top of the engine's tree: down stops only it
ROOTLESS_LOG_FILE=$LOG_DIR/dockerd-rootless.log
ROOTLESS_LEGACY_PID_FILE=/tmp/ttydports-dockerd-rootless.pid

# rootless_uid: the rootless user's uid (fails when the user does not exist yet).
rootless_uid() { id -u "$ROOTLESS_USER" 2>/dev/null; }

# rootless_socket: the engine's socket, where dockerd-rootless.sh puts it: $XDG_RUNTIME_DIR/docker.sock.
rootless_socket() { echo "/run/user/$(rootless_uid)/docker.sock"; }

# pid_is_rootlesskit PID: the rootless engine docker-rootless-up.sh starts: rootlesskit run by the rootless user, with
# its state in that user's runtime folder (a process of the user it started under it has another program).
pid_is_rootlesskit() {
    local uid
    uid=$(rootless_uid) || return 1
    proc_is "${1:-}" rootlesskit "$uid" "* --state-dir=/run/user/$uid/rootlesskit *"
}

# rootless_docker ARGS...: the docker CLI, run as root, against the rootless engine's socket (root may connect to a
# socket another user owns). The caller's DOCKER_CONTEXT, TLS settings or DOCKER_HOST must not pick another engine.
rootless_docker() {
    local bound=()
    if [[ -n ${CLI_TIMEOUT:-} ]]; then bound=(timeout "$CLI_TIMEOUT"); fi
    "${bound[@]}" env -u DOCKER_CONTEXT -u DOCKER_CERT_PATH -u DOCKER_TLS_VERIFY "DOCKER_HOST=unix://$(rootless_socket)" \
        "$(docker_client)" "$@"
}
