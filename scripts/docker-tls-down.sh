#!/usr/bin/env bash
# Undo scripts/docker-tls-up.sh: remove the TLS engine's containers labelled ttydports.test=1, then stop that dockerd,
# but only the one up started (its pid in /run/ttydports-scripts/dockerd-tls.pid, or in the /tmp file of scripts from
# before that folder, and only while that process is root's dockerd on the TLS engine's exec root). Its data root
# (with the test image) and the certificates stay, so that the next up is quick. Safe to run again.
set -euo pipefail
SCRIPT_NAME=docker-tls-down
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STOP_TIMEOUT=20
LABEL=ttydports.test=1

if ! pid=$(read_pid "$TLS_PID_FILE" "$TLS_LEGACY_PID_FILE"); then
    log "no pid file of docker-tls-up.sh: no TLS engine of ours to stop"
    exit 0
fi
need_command pgrep procps   # running (ps) and pgrep: a minimal image has no procps
if ! pid_is_tls_dockerd "$pid"; then
    log "pid $pid from the pid file is not the TLS dockerd docker-tls-up.sh starts; leaving it alone and removing the stale pid file"
    rm -f "$TLS_PID_FILE" "$TLS_LEGACY_PID_FILE"
    exit 0
fi

# 1. Test containers.
if tls_docker version >/dev/null 2>&1; then
    mapfile -t ids < <(tls_docker ps -aq --filter "label=$LABEL")
    if (( ${#ids[@]} )); then
        log "removing ${#ids[@]} container(s) labelled $LABEL from the TLS engine"
        remove_containers tls_docker -- "${ids[@]}" || log "some containers could not be removed from the TLS engine; stopping it anyway"
    fi
else
    log "the TLS engine (pid $pid) does not answer; stopping it without removing containers"
fi

# Kept when asked (parallel work on one machine), as scripts/docker-down.sh does.
if [[ ${TTYDPORTS_KEEP_ENGINE:-} == 1 ]]; then
    log "TTYDPORTS_KEEP_ENGINE=1: leaving the TLS engine running"
    exit 0
fi
# 2. The engine. Its containerd is its child; note it, so that it does not outlive a SIGKILLed dockerd.
children=$(pgrep -P "$pid" -x containerd || true)
log "stopping the TLS dockerd (pid $pid)"
stopped=true
terminate "$pid" dockerd "$STOP_TIMEOUT" || stopped=false
for c in $children; do
    if [[ $(cat "/proc/$c/comm" 2>/dev/null) == containerd ]]; then kill -KILL "$c" 2>/dev/null || true; fi
done
$stopped || die "dockerd (pid $pid) did not exit"
rm -f "$TLS_PID_FILE" "$TLS_LEGACY_PID_FILE"
