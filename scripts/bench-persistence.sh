#!/usr/bin/env bash
# Persistent shells against shells that end with their page: host memory (PSS) per connected session and time to
# the first prompt, over real ttyd, tmux and Docker. Prints figures; asserts none.
set -euo pipefail
SCRIPT_NAME=bench-persistence
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-ttyd.sh
scripts/install-tmux.sh
scripts/docker-up.sh
trap 'bench_sweep' EXIT
bench_build
dotnet "$BENCH_DLL" --scenario persistence --sessions "${SESSIONS:-5}" --range 21000 21099
