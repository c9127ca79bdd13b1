#!/usr/bin/env bash
# Keystroke echo (p50/p99 over KEYS single keys) and output throughput (MEGABYTES per round, ROUNDS rounds) of one terminal,
# direct (TCP-mode ttyd, its own credential) against through the proxy (a Kestrel host with AddTtydTerminalProxy and
# MapTtydTerminals over Unix sockets, opened as ttyd's page does) in this process, in a process of its own, and in a
# process of its own with YARP carrying the WebSocket instead of the library's relay (proxy-yarp), side by side in one
# run, interleaved, with persistent shells on and then off. Real ttyd, tmux and Docker (a busybox container
# per terminal, removed at the end); prints figures,
# asserts none. Needs a running Docker engine (it starts none) and ports 21000-21099 free.
# A terminal's connection can be slow in all its rounds, whatever carries it: CONNECTIONS splits the keys and rounds over
# that many fresh sessions and connections per terminal, and the report gives each connection's median.
# LOAD=N runs N busy loops (plain priority) beside the run, so that figures "under load" can be taken on purpose and again.
# usage: scripts/bench-echo.sh      (KEYS=2000 MEGABYTES=50 ROUNDS=3 CONNECTIONS=1 PERSISTENT=both|true|false LOAD=0 KESTREL_INLINE=false|true: adds a terminal through a proxy host process whose Kestrel has UnsafePreferInlineScheduling)
set -euo pipefail
SCRIPT_NAME=bench-echo
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh
"$(docker_client)" version >/dev/null 2>&1 || die "no Docker engine answers (scripts/docker-up.sh starts one)"
bench_require_free_range 21000 21099
burners=()
trap 'bench_sweep; (( ${#burners[@]} == 0 )) || kill "${burners[@]}" 2>/dev/null || true' EXIT
bench_build
load=${LOAD:-0}
[[ $load =~ ^[0-9]+$ ]] && (( load <= 16 )) || die "LOAD must be a number of busy loops from 0 to 16, not '$load'"
for ((i = 0; i < load; i++)); do
    # A busy loop of its own: bash's arithmetic only, no child processes.
    bash -c 'while :; do :; done' &
    burners+=("$!")
done
docker=$(docker_client)
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $load busy loop(s) beside the run; $("$docker" version --format 'docker engine {{.Server.Version}}'), $(ttyd --version 2>&1 | head -n 1), $(tmux -V)"
dotnet "$BENCH_DLL" --scenario echo --keys "${KEYS:-2000}" --megabytes "${MEGABYTES:-50}" --rounds "${ROUNDS:-3}" --connections "${CONNECTIONS:-1}" \
    --persistent "${PERSISTENT:-both}" --kestrel-inline "${KESTREL_INLINE:-false}" --docker "$docker" --range 21000 21099
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
