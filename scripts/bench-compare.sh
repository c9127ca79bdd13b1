#!/usr/bin/env bash
# The seed's algorithm (shared/baseline, Python + psutil) and TtydPorts on this machine, in one run, with N live
# sessions (default 200) on ports 21000-21999: prints per figure both values and the ratio.
# usage: scripts/bench-compare.sh [N]      (SEED_DIR overrides where bench_seed.py is)
set -euo pipefail
SCRIPT_NAME=bench-compare
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh

SESSIONS=${1:-200}
START=21000 END=21999
scripts/install-bench-deps.sh
seed_dir=$(bench_seed_dir)
bench_require_free_range "$START" "$END"
work=$(mktemp -d)
trap 'bench_sweep; rm -rf "$work"' EXIT
bench_build

log "seed: $seed_dir/bench_seed.py with $SESSIONS sessions, then races of 8 and 64 callers"
(cd "$work" && TTYD=$(command -v ttyd) /usr/bin/python3 "$OLDPWD/benchmarks/seed/seed_compare.py" "$seed_dir" "$SESSIONS" "$START" "$END") >"$work/seed.json"
echo "seed: $(cat "$work/seed.json")"
bench_require_free_range "$START" "$END"
log "ours: the same figures"
dotnet "$BENCH_DLL" --scenario compare --sessions "$SESSIONS" --range "$START" "$END" --seed-json "$work/seed.json" --out "$work/ours.json"
