#!/usr/bin/env bash
# Start a rootless Docker engine for the tests: dockerd run by the unprivileged user ttydports-rl inside RootlessKit's
# user namespace (Debian's dockerd-rootless.sh), so that a lab host running as that user can be tested against its own
# engine, as issue 13 asks. Beside the main engine, never in its way: its own user, data root
# (/var/lib/ttydports-rl/.local/share/docker), exec root and socket (/run/user/UID/docker.sock), no bridge, no iptables.
#   - The user is created when missing (home /var/lib/ttydports-rl, shell nologin: commands run through setpriv or
#     runuser), with subordinate uid and gid ranges (/etc/subuid, /etc/subgid) for the namespace.
#   - The network is the host's (RootlessKit --net=host): the test containers run with --network none, so neither
#     slirp4netns nor port forwarding is needed, and nothing of the host's network changes.
# The test image ttydports/busybox:test is copied from the main engine (scripts/docker-up.sh builds it there).
# The pid of rootlesskit (the top of the engine's process tree) goes to /run/ttydports-scripts/dockerd-rootless.pid
# (log: /var/lib/ttydports-scripts/dockerd-rootless.log), so that scripts/docker-rootless-down.sh stops only what this
# started. Prints the DOCKER_HOST to use. Runs as root; safe to
# run again.
set -euo pipefail
SCRIPT_NAME=docker-rootless-up
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE=${TTYDPORTS_TEST_IMAGE:-ttydports/busybox:test}
START_TIMEOUT=60
SUBID_COUNT=65536

require_root
ensure_private_dir "$STATE_DIR"
ensure_private_dir "$LOG_DIR"
# rootlesskit makes the namespaces; uidmap's setuid newuidmap/newgidmap map the subordinate ids into them.
apt_install_engine docker.io rootlesskit uidmap
need_command pgrep procps   # running (ps) and pgrep; a minimal image has no procps
DOCKER=$(docker_client)

# Debian's docker.io ships the wrapper under contrib; an upstream install puts it on PATH.
ROOTLESS_SCRIPT=/usr/share/docker.io/contrib/dockerd-rootless.sh
[[ -f $ROOTLESS_SCRIPT ]] || ROOTLESS_SCRIPT=$(command -v dockerd-rootless.sh || true)
[[ -n $ROOTLESS_SCRIPT ]] || die "dockerd-rootless.sh not found (neither in docker.io's contrib folder nor on PATH)"

# 1. The user and its subordinate ids.
if ! rootless_uid >/dev/null; then
    log "creating user $ROOTLESS_USER (home $ROOTLESS_HOME)"
    run_quiet useradd --create-home --home-dir "$ROOTLESS_HOME" --shell /usr/sbin/nologin \
        --comment "TtydPorts rootless Docker tests" "$ROOTLESS_USER" || die "useradd $ROOTLESS_USER failed"
fi
uid=$(rootless_uid)
gid=$(id -g "$ROOTLESS_USER")
home=$(getent passwd "$ROOTLESS_USER" | cut -d: -f6)
[[ -d $home && $(stat -c %u "$home") == "$uid" ]] || die "$ROOTLESS_USER's home $home is missing or not owned by it"
# useradd adds ranges by itself on Debian 12 (SUB_UID_* in login.defs), but not for an older user nor everywhere:
# add one after every range already given out, so that no two users share subordinate ids.
next_free_subid() { awk -F: 'BEGIN { n = 100000 } NF == 3 && $2 + $3 > n { n = $2 + $3 } END { print n }' "$1" 2>/dev/null || echo 100000; }
for kind in uid gid; do
    file=/etc/sub$kind
    if ! grep -q "^$ROOTLESS_USER:" "$file" 2>/dev/null; then
        first=$(next_free_subid "$file")
        log "adding subordinate ${kind}s $first-$((first + SUBID_COUNT - 1)) for $ROOTLESS_USER"
        run_quiet usermod "--add-sub${kind}s" "$first-$((first + SUBID_COUNT - 1))" "$ROOTLESS_USER" || die "usermod --add-sub${kind}s failed"
    fi
done

# 2. XDG_RUNTIME_DIR as pam_systemd would make it (0700, the user's): the socket, pid file and exec root go there.
# No logind runs here, so nothing else makes it (nor removes it).
RUN_DIR=/run/user/$uid
mkdir -p /run/user
chmod 0755 /run/user
[[ -L $RUN_DIR ]] && die "$RUN_DIR is a symbolic link; refusing to use it"
mkdir -p "$RUN_DIR"
chown "$uid:$gid" "$RUN_DIR"
chmod 0700 "$RUN_DIR"
SOCKET=$RUN_DIR/docker.sock

# 3. The engine.
our_engine_pid() { local p; p=$(read_pid "$ROOTLESS_PID_FILE" "$ROOTLESS_LEGACY_PID_FILE") && pid_is_rootlesskit "$p" && echo "$p"; }
engine_answers() { rootless_docker version >/dev/null 2>&1; }
wait_for_engine() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until engine_answers; do
        if ! running "$1"; then
            tail -n 30 "$ROOTLESS_LOG_FILE" >&2 || true
            die "rootless dockerd (rootlesskit pid $1) exited during startup; see $ROOTLESS_LOG_FILE"
        fi
        if (( SECONDS >= deadline )); then
            tail -n 30 "$ROOTLESS_LOG_FILE" >&2 || true
            die "rootless engine did not answer on $SOCKET within ${START_TIMEOUT}s (rootlesskit pid $1 left running; scripts/docker-rootless-down.sh stops it); see $ROOTLESS_LOG_FILE"
        fi
        sleep 0.2
    done
}

if pid=$(our_engine_pid); then
    log "the rootless engine we started earlier (rootlesskit pid $pid) runs; waiting until it answers"
    wait_for_engine "$pid"
else
    rm -f "$ROOTLESS_PID_FILE" "$ROOTLESS_LEGACY_PID_FILE"
    # Another dockerd of this user (not ours to stop) would hold the socket and the data root. Zombies do not count:
    # they have exited, and nothing here reaps what PID 1 inherits.
    for other in $(pgrep -u "$uid" -x dockerd || true); do
        running "$other" && die "a dockerd of $ROOTLESS_USER runs that $ROOTLESS_PID_FILE does not name: pid $other (scripts of before kept that pid in $ROOTLESS_LEGACY_PID_FILE)"
    done
    log "starting rootless dockerd as $ROOTLESS_USER on unix://$SOCKET (vfs, host network, no bridge), log $ROOTLESS_LOG_FILE"
    started=${EPOCHREALTIME/./}
    # setsid: its own session, so that it outlives this script's terminal; setpriv execs (no root process stays
    # above the engine, unlike runuser, whose SIGTERM would take the engine down). env -i: only what the engine needs,
    # none of root's variables. The wrapper execs rootlesskit, so $! is rootlesskit's pid.
    # DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host: no network namespace (containers use --network none), hence no port
    # driver either. --bridge=none --iptables=false --ip-masq=false: no network setup, as the rootful test engines.
    # --state-dir: rootlesskit's lock and API socket in the user's runtime folder, where a killed engine's stay
    # contained, instead of a new /tmp/rootlesskitNNN on every start.
    setsid setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" USER="$ROOTLESS_USER" \
        LOGNAME="$ROOTLESS_USER" XDG_RUNTIME_DIR="$RUN_DIR" \
        DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none \
        DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS="--state-dir=$RUN_DIR/rootlesskit" \
        /bin/sh "$ROOTLESS_SCRIPT" \
        --host "unix://$SOCKET" --iptables=false --ip-masq=false --bridge=none --storage-driver=vfs \
        >>"$ROOTLESS_LOG_FILE" 2>&1 </dev/null &
    pid=$!
    write_pid "$ROOTLESS_PID_FILE" "$pid"
    wait_for_engine "$pid"
    pid_is_rootlesskit "$pid" || die "pid $pid in $ROOTLESS_PID_FILE is not the rootlesskit this script started ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone))"
    log "rootless engine up (rootlesskit pid $pid) after $(( (${EPOCHREALTIME/./} - started) / 1000 )) ms"
fi

# It must really be rootless: a dockerd run by the user that reports the rootless security option.
engine_pid=""
for p in $(pgrep -u "$uid" -x dockerd || true); do running "$p" && engine_pid=$p; done
[[ -n $engine_pid ]] || die "no dockerd of $ROOTLESS_USER runs, yet $SOCKET answers"
options=$(rootless_docker info --format '{{json .SecurityOptions}}' 2>&1) || die "docker info on $SOCKET failed: $options"
[[ $options == *rootless* ]] || die "the engine on $SOCKET does not report rootless mode: $options"

# 4. The test image, copied from the main engine (no registry needed); loaded by the user, as a lab host would.
if rootless_docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE present"
else
    "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 \
        || "$(dirname "${BASH_SOURCE[0]}")/docker-up.sh"
    log "loading $IMAGE from the main engine"
    env -u DOCKER_HOST -u DOCKER_CONTEXT "$DOCKER" save "$IMAGE" |
        setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i PATH=/usr/bin:/bin HOME="$home" \
            DOCKER_HOST="unix://$SOCKET" "$DOCKER" load -q >/dev/null \
        || die "docker save | docker load into the rootless engine failed"
fi

# 5. A container runs there (labelled, so that docker-rootless-down.sh removes it should it be left behind), its root
# mapped to the user on the host: the proof that the namespace is in place.
out=$(rootless_docker run --rm --label ttydports.test=1 --network none "$IMAGE" sh -c 'echo ok; cat /proc/self/uid_map' 2>&1) \
    || die "test container on the rootless engine failed: $out"
[[ $(head -n 1 <<<"$out") == ok ]] || die "test container on the rootless engine printed unexpected output: $out"
read -r _ host_uid _ < <(sed -n 2p <<<"$out")
[[ $host_uid == "$uid" ]] || die "the container's root is not $ROOTLESS_USER (uid $uid) on the host: uid_map $(sed -n '2,$p' <<<"$out" | tr '\n' ' ')"
log "ready: DOCKER_HOST=unix://$SOCKET (user $ROOTLESS_USER, uid $uid)"
