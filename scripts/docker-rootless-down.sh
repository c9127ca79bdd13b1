#!/usr/bin/env bash
# Undo scripts/docker-rootless-up.sh: remove the rootless engine's containers labelled ttydports.test=1, then stop the
# engine, but only the one up started (rootlesskit, its pid in /run/ttydports-scripts/dockerd-rootless.pid, or in the /tmp
# file of scripts from before that folder, and only while that process is rootlesskit run by the rootless user with its
# state in that user's runtime folder), with what runs under it (dockerd, containerd). The user, its subordinate ids and its data (with the
# test image) stay, so that the next up is quick. Honours TTYDPORTS_KEEP_ENGINE=1 as docker-down.sh does. Safe to run
# again.
set -euo pipefail
SCRIPT_NAME=docker-rootless-down
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STOP_TIMEOUT=20
LABEL=ttydports.test=1

if ! pid=$(read_pid "$ROOTLESS_PID_FILE" "$ROOTLESS_LEGACY_PID_FILE"); then
    log "no pid file of docker-rootless-up.sh: no rootless engine of ours to stop"
    exit 0
fi
need_command pgrep procps   # running (ps) and pgrep: a minimal image has no procps
if ! pid_is_rootlesskit "$pid"; then
    log "pid $pid from the pid file is not the rootlesskit docker-rootless-up.sh starts; leaving it alone and removing the stale pid file"
    rm -f "$ROOTLESS_PID_FILE" "$ROOTLESS_LEGACY_PID_FILE"
    exit 0
fi

# 1. Test containers.
if rootless_uid >/dev/null && rootless_docker version >/dev/null 2>&1; then
    mapfile -t ids < <(rootless_docker ps -aq --filter "label=$LABEL")
    if (( ${#ids[@]} )); then
        log "removing ${#ids[@]} container(s) labelled $LABEL from the rootless engine"
        remove_containers rootless_docker -- "${ids[@]}" || log "some containers could not be removed from the rootless engine; stopping it anyway"
    fi
else
    log "the rootless engine (rootlesskit pid $pid) does not answer; stopping it without removing containers"
fi

# Kept when asked (parallel work on one machine), as scripts/docker-down.sh does.
if [[ ${TTYDPORTS_KEEP_ENGINE:-} == 1 ]]; then
    log "TTYDPORTS_KEEP_ENGINE=1: leaving the rootless engine running"
    exit 0
fi

# 2. The engine. rootlesskit passes SIGTERM on to dockerd, which stops its containers and its containerd, then
# rootlesskit exits. Its descendants are noted first, so that none outlives a SIGKILL of the tree.
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
tree=$(descendants "$pid" | tr '\n' ' ')
log "stopping the rootless engine (rootlesskit pid $pid; under it: ${tree:-nothing})"
stopped=true
terminate "$pid" rootlesskit "$STOP_TIMEOUT" || stopped=false
# What was under it and still runs as the user (a pid reused by another process is not the user's, or not the same
# program): SIGKILL, so that no dockerd or containerd of a stopped engine holds the data root.
uid=$(rootless_uid || echo -1)
for c in $tree; do
    if running "$c" && [[ $(stat -c %u "/proc/$c" 2>/dev/null) == "$uid" ]]; then
        case $(cat "/proc/$c/comm" 2>/dev/null) in
            dockerd|containerd|exe|sh) kill -KILL "$c" 2>/dev/null || true ;;
        esac
    fi
done
$stopped || die "rootlesskit (pid $pid) did not exit"
rm -f "$ROOTLESS_PID_FILE" "$ROOTLESS_LEGACY_PID_FILE"
