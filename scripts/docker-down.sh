#!/usr/bin/env bash
# Undo scripts/docker-up.sh: remove every container labelled ttydports.test=1, then stop dockerd, but
# only the one that docker-up.sh started (its pid in /run/ttydports-scripts/dockerd.pid, or in the /tmp file of
# scripts from before that folder, and only while that process is root's dockerd with docker-up.sh's arguments).
# The image and the installed packages stay. Safe to run again.
set -euo pipefail
SCRIPT_NAME=docker-down
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STOP_TIMEOUT=20
LABEL=ttydports.test=1

# 1. Test containers (a failure is reported at the end: the engine is stopped first).
removal_failed=false
DOCKER=$(docker_client)
if [[ -n $DOCKER ]] && "$DOCKER" version >/dev/null 2>&1; then
    mapfile -t ids < <("$DOCKER" ps -aq --filter "label=$LABEL")
    if (( ${#ids[@]} )); then
        log "removing ${#ids[@]} container(s) labelled $LABEL"
        remove_containers "$DOCKER" -- "${ids[@]}" || removal_failed=true
    fi
else
    log "no Docker engine answers; no containers to remove"
fi

# 2. The engine, only if we started it (and nobody asked to keep it, e.g. for parallel work on one machine).
removal_result() { if $removal_failed; then die "some test containers could not be removed (see above)"; fi; }
if [[ ${TTYDPORTS_KEEP_ENGINE:-} == 1 ]]; then
    log "TTYDPORTS_KEEP_ENGINE=1: leaving the Docker engine running"
    removal_result
    exit 0
fi
if ! pid=$(read_pid "$DOCKER_PID_FILE" "$DOCKER_LEGACY_PID_FILE"); then
    log "no pid file of docker-up.sh: leaving any running Docker engine alone"
    removal_result
    exit 0
fi
need_command pgrep procps   # running (ps) and pgrep: a minimal image has no procps
if ! pid_is_main_dockerd "$pid"; then
    log "pid $pid from the pid file is not the dockerd docker-up.sh starts; leaving it alone and removing the stale pid file"
    rm -f "$DOCKER_PID_FILE" "$DOCKER_LEGACY_PID_FILE"
    removal_result
    exit 0
fi
# dockerd runs its own containerd as a child; note it, so that it does not outlive a SIGKILLed dockerd.
children=$(pgrep -P "$pid" -x containerd || true)
log "stopping dockerd (pid $pid)"
stopped=true
terminate "$pid" dockerd "$STOP_TIMEOUT" || stopped=false
for c in $children; do
    if [[ $(cat "/proc/$c/comm" 2>/dev/null) == containerd ]]; then kill -KILL "$c" 2>/dev/null || true; fi
done
$stopped || die "dockerd (pid $pid) did not exit"
rm -f "$DOCKER_PID_FILE" "$DOCKER_LEGACY_PID_FILE"
removal_result
