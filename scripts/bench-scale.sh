#!/usr/bin/env bash
# The whole default range: 1001 sessions with real ttyd on ports 8000-9000, created at once, each checked to
# accept a connection, then all cleaned up. Prints the times, memory and leaks; exits non-zero on a leak.
# Needs about 6 GB of free memory. Aborts when anything already listens in 8000-9000.
set -euo pipefail
SCRIPT_NAME=bench-scale
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh

START=8000 END=9000
scripts/install-ttyd.sh
bench_require_free_range "$START" "$END"
# The host holds a socket per pending readiness probe: 1001 at once need more than the common 1024.
if (( $(ulimit -n) < 8192 )); then ulimit -n 8192 || die "cannot raise the open-file limit to 8192 (ulimit -n)"; fi
log "open-file limit $(ulimit -n), $(free -g | awk '/^Mem:/ {print $7}') GiB available"
trap 'bench_sweep' EXIT
bench_build
dotnet "$BENCH_DLL" --scenario scale --sessions 1001 --range "$START" "$END"
