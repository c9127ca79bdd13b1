# shellcheck shell=bash disable=SC2034 # its variables are for the scripts that source it
# Helpers shared by the scripts in this folder. Source it; do not run it.
# Never write a mirror or registry host name here: take them from the machine's apt configuration.

# log MESSAGE: one line on stdout, prefixed with the calling script's name.
log() { echo "${SCRIPT_NAME:-$(basename "$0" .sh)}: $*"; }

# die MESSAGE: one line on stderr, then exit 1.
die() { echo "${SCRIPT_NAME:-$(basename "$0" .sh)}: ERROR: $*" >&2; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (uses apt-get and starts system services)"; }

# remove_containers DOCKER_CMD... -- ID...: `rm -f` one container at a time, each bounded to 60 s. Docker 20.10 (Debian's)
# can deadlock when containers leave a network concurrently (moby#46661: libnetwork's getSvcRecords against
# processEndpointDelete); one at a time keeps that unlikely, and the bound turns a hung engine into an error instead of a
# hang, so that the engine is still stopped. Fails when any removal failed.
remove_containers() {
    local cmd=() id failed=0
    while (( $# )) && [[ $1 != -- ]]; do cmd+=("$1"); shift; done
    shift
    for id in "$@"; do
        # A function of ours (tls_docker, rootless_docker) bounds its own CLI with CLI_TIMEOUT; `timeout` runs programs only.
        if declare -F "${cmd[0]}" >/dev/null; then
            CLI_TIMEOUT=60 run_quiet "${cmd[@]}" rm -f "$id" || { log "could not remove container $id (the engine may be hung)"; failed=1; }
        else
            run_quiet timeout 60 "${cmd[@]}" rm -f "$id" || { log "could not remove container $id (the engine may be hung)"; failed=1; }
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

# debian_mirror_uri: the main Debian archive URI of this machine's apt configuration
# (deb822 /etc/apt/sources.list.d/debian.sources first, then one-line /etc/apt/sources.list),
# skipping the security archive. Overridable with DEBIAN_MIRROR_URI.
debian_mirror_uri() {
    if [[ -n ${DEBIAN_MIRROR_URI:-} ]]; then echo "$DEBIAN_MIRROR_URI"; return 0; fi
    local uri=""
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        # Paragraph mode: one deb822 stanza per record; take the first URI of the first non-security stanza.
        uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
            {
                u = ""; s = ""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^[[:space:]]*#/) continue
                    if ($i ~ /^URIs:/)   { u = $i; sub(/^URIs:[[:space:]]*/, "", u); split(u, a, /[[:space:]]+/); u = a[1] }
                    if ($i ~ /^Suites:/) { s = $i }
                }
                if (u != "" && s !~ /-security/) { print u; exit }
            }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" || $1 == "deb-src" {
                i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) !~ /-security/) { print $i; exit }
            }' /etc/apt/sources.list)
    fi
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

# pid_is_dockerd PID: PID is a live dockerd process.
pid_is_dockerd() { [[ -n ${1:-} ]] && running "$1" && [[ $(cat "/proc/$1/comm" 2>/dev/null) == dockerd ]]; }

# The second Docker engine, on loopback TCP with TLS client certificates (scripts/docker-tls-up.sh and -down.sh).
# One place for its paths, so that up and down (and test.sh's leak check) agree.
TLS_PORT=${TTYDPORTS_TLS_PORT:-23760}
TLS_DIR=${TTYDPORTS_TLS_DIR:-/tmp/ttydports-tls}          # ca.pem, cert.pem, key.pem: a DOCKER_CERT_PATH
TLS_DATA_ROOT=/var/lib/ttydports-docker-tls                # never the main engine's /var/lib/docker
TLS_EXEC_ROOT=/run/ttydports-docker-tls                    # never the main engine's /var/run/docker
TLS_PID_FILE=/tmp/ttydports-dockerd-tls.pid                # written by up: down stops only this pid
TLS_LOG_FILE=/tmp/ttydports-dockerd-tls.log

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
PODMAN_PID_FILE=/tmp/ttydports-podman.pid                  # the API service up started: down stops only this pid
PODMAN_LOG_FILE=/tmp/ttydports-podman.log

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
ROOTLESS_PID_FILE=/tmp/ttydports-dockerd-rootless.pid      # rootlesskit, the top of the engine's tree: down stops only it
ROOTLESS_LOG_FILE=/tmp/ttydports-dockerd-rootless.log

# rootless_uid: the rootless user's uid (fails when the user does not exist yet).
rootless_uid() { id -u "$ROOTLESS_USER" 2>/dev/null; }

# rootless_socket: the engine's socket, where dockerd-rootless.sh puts it: $XDG_RUNTIME_DIR/docker.sock.
rootless_socket() { echo "/run/user/$(rootless_uid)/docker.sock"; }

# rootless_docker ARGS...: the docker CLI, run as root, against the rootless engine's socket (root may connect to a
# socket another user owns). The caller's DOCKER_CONTEXT, TLS settings or DOCKER_HOST must not pick another engine.
rootless_docker() {
    local bound=()
    if [[ -n ${CLI_TIMEOUT:-} ]]; then bound=(timeout "$CLI_TIMEOUT"); fi
    "${bound[@]}" env -u DOCKER_CONTEXT -u DOCKER_CERT_PATH -u DOCKER_TLS_VERIFY "DOCKER_HOST=unix://$(rootless_socket)" \
        "$(docker_client)" "$@"
}
