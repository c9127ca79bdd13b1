#!/usr/bin/env bash
# BenchmarkDotNet runs of the hot paths (ports 21000-21999). Arguments go to BenchmarkDotNet; the default runs
# every benchmark: scripts/bench.sh --filter '*LiveSession*'
set -euo pipefail
SCRIPT_NAME=bench
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh

scripts/install-ttyd.sh
bench_require_free_range 21000 21999
if (( $(ulimit -n) < 8192 )); then ulimit -n 8192 || true; fi
trap 'bench_sweep' EXIT
bench_build
(( $# )) || set -- --filter '*'
dotnet "$BENCH_DLL" --artifacts benchmarks/TtydPorts.Benchmarks/BenchmarkDotNet.Artifacts "$@"
