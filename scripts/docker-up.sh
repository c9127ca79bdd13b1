#!/usr/bin/env bash
# Make sure a Docker engine answers and the test image ttydports/busybox:test exists.
# If no engine answers, install Debian's docker.io (without starting or enabling the package's docker.service: see
# apt_install_engine in common.sh) and start dockerd in the background without networking setup (vfs storage, no
# bridge, no iptables), recording its pid in /run/ttydports-scripts/dockerd.pid (log: /var/lib/ttydports-scripts/
# dockerd.log), so that scripts/docker-down.sh stops only an engine that this script started. The image is built
# locally from Debian's busybox-static (no registry is needed).
# Runs as root; safe to run again.
set -euo pipefail
SCRIPT_NAME=docker-up
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE=${TTYDPORTS_TEST_IMAGE:-ttydports/busybox:test}
START_TIMEOUT=60

engine_answers() {
    local c
    c=$(docker_client)
    [[ -n $c ]] && "$c" version >/dev/null 2>&1
}
wait_for_engine() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until engine_answers; do
        if [[ -n ${1:-} ]] && ! running "$1"; then
            tail -n 30 "$DOCKER_LOG_FILE" >&2 || true
            die "dockerd (pid $1) exited during startup; see $DOCKER_LOG_FILE"
        fi
        if (( SECONDS >= deadline )); then
            tail -n 30 "$DOCKER_LOG_FILE" >&2 || true
            die "Docker engine did not answer within ${START_TIMEOUT}s (dockerd pid ${1:-?} left running; scripts/docker-down.sh stops it); see $DOCKER_LOG_FILE"
        fi
        sleep 0.5
    done
}

# 1. The engine.
if engine_answers; then
    log "Docker engine answers ($(docker_client))"
else
    require_root
    ensure_private_dir "$STATE_DIR"
    ensure_private_dir "$LOG_DIR"
    # The docker.io client is needed even when some other client exists: it matches the engine we start.
    apt_install_engine docker.io iptables
    need_command ps procps   # `running` tells a dockerd that exited from one still starting; a minimal image has no ps
    if pid=$(read_pid "$DOCKER_PID_FILE" "$DOCKER_LEGACY_PID_FILE") && pid_is_main_dockerd "$pid"; then
        # Our dockerd from an earlier run is still alive (maybe still starting): wait for it, do not start a second.
        log "waiting for the dockerd we started earlier (pid $pid)"
        wait_for_engine "$pid"
    elif engine_answers; then
        log "Docker engine answers ($(docker_client))"
    else
        rm -f "$DOCKER_PID_FILE" "$DOCKER_LEGACY_PID_FILE"
        log "starting dockerd (vfs, no bridge, no iptables), log $DOCKER_LOG_FILE"
        # setsid: its own session, so it outlives this shell and its terminal; nohup for good measure.
        started=${EPOCHREALTIME/./}
        setsid nohup dockerd "${DOCKERD_ARGS[@]}" >>"$DOCKER_LOG_FILE" 2>&1 </dev/null &
        pid=$!
        write_pid "$DOCKER_PID_FILE" "$pid"
        wait_for_engine "$pid"
        pid_is_main_dockerd "$pid" || die "pid $pid in $DOCKER_PID_FILE is not the dockerd this script started ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone))"
        log "Docker engine up (dockerd pid $pid) after $(( (${EPOCHREALTIME/./} - started) / 1000 )) ms"
    fi
fi
DOCKER=$(docker_client)

# 2. The test image.
if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE present"
else
    require_root
    apt_install busybox-static
    BUSYBOX=/bin/busybox
    [[ -x $BUSYBOX ]] || BUSYBOX=$(dpkg -L busybox-static | grep -m1 '/busybox$')
    log "building image $IMAGE from $BUSYBOX"
    WORK=$(mktemp -d /tmp/ttydports-image.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    ROOT=$WORK/root
    mkdir -p "$ROOT/bin" "$ROOT/etc" "$ROOT/root" "$ROOT/tmp"
    chmod 1777 "$ROOT/tmp"
    install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
    # Every applet as a symlink in /bin (sh, ls, cat, echo, sleep, hostname, ...).
    for applet in $("$BUSYBOX" --list); do
        [[ $applet == busybox || -e $ROOT/bin/$applet ]] || ln -s busybox "$ROOT/bin/$applet"
    done
    [[ -L $ROOT/bin/sh ]] || ln -s busybox "$ROOT/bin/sh"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT/etc/passwd"
    echo 'root:x:0:' >"$ROOT/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -cf "$WORK/image.tar" .
    run_quiet "$DOCKER" import --change 'CMD ["sh"]' "$WORK/image.tar" "$IMAGE" \
        || die "docker import failed"
fi

# 3. Check that a container runs (labelled, so that docker-down.sh removes it should it be left behind).
out=$("$DOCKER" run --rm --label ttydports.test=1 --network none "$IMAGE" sh -c 'echo ok; hostname' 2>&1) \
    || die "test container failed: $out"
[[ $(head -n 1 <<<"$out") == ok ]] || die "test container printed unexpected output: $out"
log "test container ran (hostname $(tail -n 1 <<<"$out"))"
