#!/usr/bin/env bash
# Undo scripts/podman-up.sh: remove every container labelled ttydports.test=1 from our podman storage, then stop the
# API service, but only the one up started (its pid in /run/ttydports-scripts/podman.pid, or in the /tmp file of scripts
# from before that folder, and only while that process is root's podman serving our socket). The
# package, the configuration and the storage (with the test image) stay, so that the next up is quick. Safe to run again.
set -euo pipefail
SCRIPT_NAME=podman-down
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STOP_TIMEOUT=10
LABEL=ttydports.test=1

# 1. Test containers, with the local CLI: it works on the storage whether or not the service runs. A container's
# conmon outlives the service, so this is what stops the containers' processes.
if command -v podman >/dev/null && [[ -f $PODMAN_ROOT/containers.conf ]]; then
    mapfile -t ids < <(test_podman ps -aq --filter "label=$LABEL")
    if (( ${#ids[@]} )); then
        log "removing ${#ids[@]} podman container(s) labelled $LABEL"
        run_quiet test_podman rm -f -t 0 "${ids[@]}" || die "podman rm -f failed"
    fi
fi

# An exec session's conmon stays 300 s after its process ends (podman's --exit-delay, so that the API can still report
# the exit code), also when the container is gone: stop those of our storage whose container no longer exists.
if command -v podman >/dev/null && [[ -f $PODMAN_ROOT/containers.conf ]]; then
    need_command pgrep procps   # a minimal image has no procps
    live=$(test_podman ps -aq --no-trunc)
    stale=()
    for c in $(pgrep -x conmon || true); do
        proc_is "$c" conmon 0 "* $PODMAN_ROOT/storage *" || continue   # root's conmon of our storage, not a look-alike
        args=$(tr '\0' '\n' <"/proc/$c/cmdline" 2>/dev/null) || continue
        grep -qxF -- "$PODMAN_ROOT/storage" <<<"$args" || continue
        id=$(grep -A1 -xF -- -c <<<"$args" | tail -n 1)
        [[ -n $id ]] && ! grep -qxF -- "$id" <<<"$live" && stale+=("$c")
    done
    if (( ${#stale[@]} )); then
        log "stopping ${#stale[@]} conmon process(es) of removed containers"
        kill -TERM "${stale[@]}" 2>/dev/null || true
    fi
fi

# Kept when asked (parallel work on one machine), as scripts/docker-down.sh does.
if [[ ${TTYDPORTS_KEEP_ENGINE:-} == 1 ]]; then
    log "TTYDPORTS_KEEP_ENGINE=1: leaving the podman service running"
    exit 0
fi

# 2. The service.
if ! pid=$(read_pid "$PODMAN_PID_FILE" "$PODMAN_LEGACY_PID_FILE"); then
    log "no pid file of podman-up.sh: no podman service of ours to stop"
    exit 0
fi
need_command pgrep procps   # running (ps) and pgrep: a minimal image has no procps
if ! pid_is_our_podman "$pid"; then
    log "pid $pid from the pid file is not the podman service podman-up.sh starts; leaving it alone and removing the stale pid file"
    rm -f "$PODMAN_PID_FILE" "$PODMAN_LEGACY_PID_FILE"
    exit 0
fi
log "stopping the podman service (pid $pid)"
terminate "$pid" "podman service" "$STOP_TIMEOUT" || die "podman service (pid $pid) did not exit"
rm -f "$PODMAN_PID_FILE" "$PODMAN_LEGACY_PID_FILE" "$PODMAN_SOCK"
