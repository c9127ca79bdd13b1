#!/usr/bin/env bash
# Runs every test against the real parts: installs ttyd, tmux and the exec client (ttydports-exec) when they are missing, starts a Docker engine when
# none answers, a second Docker engine on loopback TCP with TLS client certificates, a rootless Docker engine run by
# its own unprivileged user, and Podman's API service (and stops what it started again at the end), then checks that
# the suite left no ttyd or tmux process and no test container on any of the four engines behind. Exit status: that of
# the tests, or 1 for a leak.
set -euo pipefail
SCRIPT_NAME=test
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-ttyd.sh
scripts/install-tmux.sh
scripts/install-exec-client.sh
need_command ps procps   # the leak check below lists processes; a minimal image has no procps
# Each engine's down runs even when one before it fails, and before any up can fail (a down stops only what its up
# recorded, so one whose up never ran does nothing).
stop_engines() {
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

# Live ttyd and tmux processes only (a persistent shell's tmux server daemonizes, so it is nobody's child): a zombie
# has exited and just waits for its parent (often PID 1) to collect it.
ttyd_pids() { ps -eo pid=,stat=,comm= | awk '($3 == "ttyd" || $3 ~ /^tmux/) && $2 !~ /^Z/ {print $1}' | sort || true; }
before=$(ttyd_pids)
results=$(mktemp -d)
status=0
dotnet test TtydPorts.sln --results-directory "$results" 2>&1 | tee "$results/out.txt" || status=$?

# A plain closing line over every test assembly.
awk '/(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$results/out.txt"
rm -rf "$results"

leaked=$(comm -13 <(echo "$before") <(ttyd_pids) | tr '\n' ' ')
if [[ -n ${leaked// /} ]]; then
    echo "test: ERROR: the suite left ttyd or tmux processes running: $leaked" >&2
    ps -o pid,ppid,args -p "${leaked// /,}" >&2 || true
    kill -KILL $leaked 2>/dev/null || true
    status=1
fi
containers="$(test_containers docker "$(docker_client)") $(test_containers tls tls_docker)"
containers+=" $(test_containers rootless rootless_docker) $(test_containers podman test_podman)"
if [[ -n ${containers//[[:space:]]/} ]]; then
    echo "test: ERROR: the suite left test containers: $(tr -s "[:space:]" " " <<<"$containers")" >&2
    status=1
fi
exit "$status"
