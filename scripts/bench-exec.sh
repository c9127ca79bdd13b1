#!/usr/bin/env bash
# The docker CLI against ttydports-exec (ExecClientPath) as what opens each terminal's shell, side by side in one run:
# the cold first prompt (ours: EnsureSessionAsync -> prompt; raw ttyd: connect -> prompt), interleaved per round, and host
# PSS per connected terminal with N nodes of one connected client each (with and without persistent shells), broken
# down by process. Real ttyd, tmux and Docker; prints figures, asserts none.
# Needs a running Docker engine (it starts none), the exec client (scripts/install-exec-client.sh) and ports 21000-21999 free.
# usage: scripts/bench-exec.sh      (ROUNDS=5 CLIENTS=1,10,20)
set -euo pipefail
SCRIPT_NAME=bench-exec
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh
"$(docker_client)" version >/dev/null 2>&1 || die "no Docker engine answers (scripts/docker-up.sh starts one)"
client=${TTYDPORTS_EXEC_CLIENT:-/usr/local/lib/ttydports/ttydports-exec}
[[ -x $client ]] || die "$client is missing (scripts/install-exec-client.sh builds it)"
bench_require_free_range 21000 21999
trap 'bench_sweep' EXIT
bench_build
docker=$(docker_client)   # the client that matches the engine, as the tests and the sample use it
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $("$docker" version --format 'docker engine {{.Server.Version}}, client {{.Client.Version}}') ($docker), $(tmux -V)"
dotnet "$BENCH_DLL" --scenario exec-client --sessions "${ROUNDS:-5}" --clients "${CLIENTS:-1,10,20}" --exec-client "$client" --docker "$docker" --range 21000 21099
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
