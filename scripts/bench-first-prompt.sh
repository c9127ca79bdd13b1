#!/usr/bin/env bash
# The first prompt as a user meets it (node listed, then clicked: WebSocket connect to the prompt), ours with persistent
# shells started with the session vs the seed's algorithm vs raw ttyd + docker exec, 5 rounds; and host PSS per connected
# terminal with 1, 5 and 10 clients on one node. Real ttyd, tmux and Docker; prints figures, asserts none.
# Needs a running Docker engine (it starts none) and ports 21000-21999 free.
# usage: scripts/bench-first-prompt.sh      (ROUNDS=5 THINK_MS=1000 SEED_DIR=...)
set -euo pipefail
SCRIPT_NAME=bench-first-prompt
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh
docker version >/dev/null 2>&1 || die "no Docker engine answers (scripts/docker-up.sh starts one)"
scripts/install-bench-deps.sh
seed_dir=$(bench_seed_dir)
bench_require_free_range 21000 21999
trap 'bench_sweep' EXIT
bench_build
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet "$BENCH_DLL" --scenario first-prompt --sessions "${ROUNDS:-5}" --think "${THINK_MS:-1000}" --seed-dir "$seed_dir" --range 21000 21099
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
