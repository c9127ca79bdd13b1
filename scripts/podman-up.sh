#!/usr/bin/env bash
# Start Podman for the Podman-runtime tests: Debian's podman (installed when missing), rootful, with a containers.conf
# and a storage.conf of our own in /var/lib/ttydports-podman (vfs storage there, run state in /run/ttydports-podman),
# and its Docker-compatible API service on unix:///run/ttydports-podman/podman.sock. Every podman that works on this
# storage needs the same configuration:
#   CONTAINERS_CONF=/var/lib/ttydports-podman/containers.conf CONTAINERS_STORAGE_CONF=/var/lib/ttydports-podman/storage.conf
# (or `podman --remote --url unix:///run/ttydports-podman/podman.sock`, which goes through the service).
# The test image ttydports/busybox:test is copied from the main Docker engine (scripts/docker-up.sh builds it there).
# The service's pid goes to /run/ttydports-scripts/podman.pid (log: /var/lib/ttydports-scripts/podman.log), so that
# scripts/podman-down.sh stops only what this started.
# Runs as root; safe to run again.
set -euo pipefail
SCRIPT_NAME=podman-up
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE=${TTYDPORTS_TEST_IMAGE:-ttydports/busybox:test}
START_TIMEOUT=30

require_root
ensure_private_dir "$STATE_DIR"
ensure_private_dir "$LOG_DIR"
apt_install podman
need_command curl curl     # asks the service for _ping
need_command ps procps     # `running`; a minimal image has no procps

# 1. Configuration. Only these files are read (CONTAINERS_CONF and CONTAINERS_STORAGE_CONF replace the system ones),
# so /etc/containers and any other podman's storage stay untouched.
mkdir -p "$PODMAN_ROOT" "$PODMAN_RUN"
chmod 0700 "$PODMAN_ROOT" "$PODMAN_RUN"
conf_changed=0
write_conf() { # FILE: stdin replaces FILE when it differs
    local new
    new=$(cat)
    if [[ ! -f $1 || $(cat "$1") != "$new" ]]; then
        printf '%s\n' "$new" >"$1"
        conf_changed=1
    fi
}
write_conf "$PODMAN_ROOT/containers.conf" <<CONF
# Written by scripts/podman-up.sh: the TtydPorts tests' podman. Read through CONTAINERS_CONF only.
[containers]
# This sandbox refuses podman's default RLIMIT_NOFILE/RLIMIT_NPROC ("error setting rlimit type 7: operation not permitted").
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
# No journald here: container logs and events go to files.
log_driver = "k8s-file"

[engine]
# No systemd here.
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_RUN/events.log"
tmp_dir = "$PODMAN_RUN/libpod"

[network]
# The tests run containers with --network none; a network made here by accident stays out of /etc/containers.
network_config_dir = "$PODMAN_ROOT/networks"
CONF
write_conf "$PODMAN_ROOT/storage.conf" <<CONF
# Written by scripts/podman-up.sh: the TtydPorts tests' podman storage. Read through CONTAINERS_STORAGE_CONF only.
[storage]
driver = "vfs"
graphroot = "$PODMAN_ROOT/storage"
runroot = "$PODMAN_RUN/storage"
CONF

# 2. The API service.
service_answers() { curl -sf --max-time 2 --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; }
our_service_pid() { local p; p=$(read_pid "$PODMAN_PID_FILE" "$PODMAN_LEGACY_PID_FILE") && pid_is_our_podman "$p" && echo "$p"; }
wait_for_service() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until service_answers; do
        if ! running "$1"; then
            tail -n 30 "$PODMAN_LOG_FILE" >&2 || true
            die "podman system service (pid $1) exited during startup; see $PODMAN_LOG_FILE"
        fi
        if (( SECONDS >= deadline )); then
            tail -n 30 "$PODMAN_LOG_FILE" >&2 || true
            die "podman's API did not answer within ${START_TIMEOUT}s (pid $1 left running; scripts/podman-down.sh stops it); see $PODMAN_LOG_FILE"
        fi
        sleep 0.1
    done
}

if pid=$(our_service_pid) && (( conf_changed )); then
    log "configuration changed; restarting the podman service (pid $pid)"
    "$(dirname "${BASH_SOURCE[0]}")/podman-down.sh"
fi
if pid=$(our_service_pid); then
    log "the podman service we started earlier (pid $pid) runs; waiting until it answers"
    wait_for_service "$pid"
else
    rm -f "$PODMAN_PID_FILE" "$PODMAN_LEGACY_PID_FILE"
    service_answers && die "something else serves $PODMAN_SOCK; not starting a second service"
    rm -f "$PODMAN_SOCK"
    log "starting podman system service on unix://$PODMAN_SOCK, log $PODMAN_LOG_FILE"
    started=${EPOCHREALTIME/./}
    # --time 0: never exit when idle (the tests may leave it idle for a while); setsid: outlives this shell.
    setsid nohup env -u CONTAINER_HOST -u CONTAINER_CONNECTION \
        CONTAINERS_CONF="$PODMAN_ROOT/containers.conf" CONTAINERS_STORAGE_CONF="$PODMAN_ROOT/storage.conf" \
        podman system service --time 0 "unix://$PODMAN_SOCK" >>"$PODMAN_LOG_FILE" 2>&1 </dev/null &
    pid=$!
    write_pid "$PODMAN_PID_FILE" "$pid"
    wait_for_service "$pid"
    pid_is_our_podman "$pid" || die "pid $pid in $PODMAN_PID_FILE is not the podman service this script started ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone))"
    log "podman service up (pid $pid) after $(( (${EPOCHREALTIME/./} - started) / 1000 )) ms"
fi

# 3. The test image, copied from the main Docker engine (no registry needed).
if test_podman image exists "$IMAGE"; then
    log "image $IMAGE present"
else
    DOCKER=$(docker_client)
    { [[ -n $DOCKER ]] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; } \
        || "$(dirname "${BASH_SOURCE[0]}")/docker-up.sh"
    DOCKER=$(docker_client)
    log "loading $IMAGE from the main Docker engine"
    TAR=$(mktemp /tmp/ttydports-podman-image.XXXXXX)
    trap 'rm -f "$TAR"' EXIT
    run_quiet "$DOCKER" save -o "$TAR" "$IMAGE" || die "docker save $IMAGE failed"
    run_quiet test_podman load -i "$TAR" || die "podman load failed"
    test_podman image exists "$IMAGE" || die "podman load did not make $IMAGE"
fi

# 4. A container runs there (labelled, so that podman-down.sh removes it should it be left behind).
out=$(test_podman run --rm --label ttydports.test=1 --network none "$IMAGE" sh -c 'echo ok; hostname' 2>&1) \
    || die "test container on podman failed: $out"
[[ $(head -n 1 <<<"$out") == ok ]] || die "test container on podman printed unexpected output: $out"
log "ready: $PODMAN_SOCK (podman $(test_podman version --format '{{.Client.Version}}'))"
