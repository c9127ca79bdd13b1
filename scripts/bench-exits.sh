#!/usr/bin/env bash
# Waiting for processes: create and stop time, and the host process's context switches while creating, idle with
# live sessions, and stopping (getrusage), over real ttyd. Prints figures; asserts none.
set -euo pipefail
SCRIPT_NAME=bench-exits
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-ttyd.sh
scripts/install-tmux.sh
trap 'bench_sweep' EXIT
bench_build
dotnet "$BENCH_DLL" --scenario exits --sessions "${SESSIONS:-50}" --idle "${IDLE:-10}" --range 21100 21199
