#!/usr/bin/env bash
# Runs every test against the real parts: installs ttyd, tmux and the exec client (ttydports-exec) when they are missing, starts a Docker engine when
# none answers, a second Docker engine on loopback TCP with TLS client certificates, a rootless Docker engine run by
# its own unprivileged user, and Podman's API service (and stops what it started again at the end), then checks that
# the suite left no ttyd or tmux process and no test container on any of the four engines behind. Only the suite's own
# ttyd and tmux processes are stopped (scripts/leaks.sh tells them apart by a marker of this run): a tmux of yours or the
# terminals of a sample running beside the tests are named and left alone. Exit status: that of the tests, or 1 for a
# leak.
set -euo pipefail
SCRIPT_NAME=test
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=leaks.sh
source "$(dirname "${BASH_SOURCE[0]}")/leaks.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-ttyd.sh
scripts/install-tmux.sh
scripts/install-exec-client.sh
need_command ps procps   # the leak check below lists processes; a minimal image has no procps
# Each engine's down runs even when one before it fails, and before any up can fail (a down stops only what its up
# recorded, so one whose up never ran does nothing).
watcher=""
leak_files=()
stop_engines() {
    if [[ -n $watcher ]]; then kill "$watcher" 2>/dev/null || true; fi
    if (( ${#leak_files[@]} )); then rm -f "${leak_files[@]}"; fi
    scripts/podman-down.sh || echo "test: ERROR: scripts/podman-down.sh failed" >&2
    scripts/docker-rootless-down.sh || echo "test: ERROR: scripts/docker-rootless-down.sh failed" >&2
    scripts/docker-tls-down.sh || echo "test: ERROR: scripts/docker-tls-down.sh failed" >&2
    scripts/docker-down.sh
}
trap stop_engines EXIT
scripts/docker-up.sh
scripts/docker-tls-up.sh
scripts/docker-rootless-up.sh
scripts/podman-up.sh
# Without Chromium (Ubuntu has no chromium deb: the script says how to provide /usr/bin/chromium) the browser tests are
# skipped, so the rest still runs; under CI=true a missing part is a failure.
if ! scripts/install-chromium.sh; then
    [[ ${CI:-} == true ]] && exit 1
    log "no Chromium: the browser tests will be skipped (see the error above)"
fi
scripts/install-aot-deps.sh

# The ttyd and tmux processes before the run, and a watcher that notes every second which ones belong to the run (see
# scripts/leaks.sh): the run's marker is in the environment of `dotnet test` only.
RUN_ID="test-$$-${EPOCHREALTIME/./}"
before_file=$(mktemp)
watch_file=$(mktemp)
leak_files=("$before_file" "$watch_file")
term_processes >"$before_file"
leak_instances "$watch_file"
leak_watch "$watch_file" &
watcher=$!
results=$(mktemp -d)
status=0
# Exported in a subshell, not passed to env: an argument is readable by every user in /proc/PID/cmdline.
(export "$RUN_VAR=$RUN_ID"; exec dotnet test TtydPorts.sln --results-directory "$results") 2>&1 | tee "$results/out.txt" || status=$?
leak_watch_once "$watch_file"
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
watcher=""

# A plain closing line over every test assembly.
awk '/(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$results/out.txt"
rm -rf "$results"

leaks=$(leak_classify "$before_file" "$watch_file")
pids_of() { awk -v kind="$1" '$1 == kind { sub(/:.*/, "", $2); print $2 }' <<<"$leaks" | tr '\n' ' '; }
show() { ps -o pid,ppid,user,args -p "$(tr ' ' ',' <<<"${1% }")" >&2 || true; }
ours=$(pids_of run)
if [[ -n ${ours// /} ]]; then
    echo "test: ERROR: the suite left ttyd or tmux processes running (stopping them): $ours" >&2
    show "$ours"
    while read -r kind key _; do
        # Only the process that was classified (same pid and start time), never one that got its pid since.
        if [[ $kind == run ]] && still_same "$key"; then kill -KILL "${key%%:*}" 2>/dev/null || true; fi
    done <<<"$leaks"
    status=1
fi
unplaced=$(pids_of unknown)
if [[ -n ${unplaced// /} ]]; then
    echo "test: ERROR: ttyd or tmux processes started during the run carry the TtydPorts markers of an instance this check could not place, most likely the suite's (its host ended too soon to be seen) but perhaps another host's on this machine; left running, stop them if they are the suite's: $unplaced" >&2
    show "$unplaced"
    status=1
fi
others=$(pids_of other)
if [[ -n ${others// /} ]]; then
    log "note: ttyd or tmux processes started during the run that are not the suite's (no marker of this run: your own tmux, or the terminals of a host or sample running beside the tests) were left alone: $others"
fi
containers="$(test_containers docker "$(docker_client)") $(test_containers tls tls_docker)"
containers+=" $(test_containers rootless rootless_docker) $(test_containers podman test_podman)"
if [[ -n ${containers//[[:space:]]/} ]]; then
    echo "test: ERROR: the suite left test containers: $(tr -s "[:space:]" " " <<<"$containers")" >&2
    status=1
fi
exit "$status"
