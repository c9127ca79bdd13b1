#!/usr/bin/env bash
# The README's main command: installs ttyd and a Docker engine when missing, starts a small demo lab of
# busybox containers, and runs the sample host against it. Ctrl+C stops the sample; the demo containers
# (label ttydports.demo=1) and an engine this script started are removed on exit. Extra arguments go to the
# sample (e.g. --once).
set -euo pipefail
SCRIPT_NAME=run-sample
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-ttyd.sh
scripts/docker-up.sh
docker=$(docker_client)
cleanup() {
    "$docker" ps -aq --filter label=ttydports.demo=1 | xargs -r "$docker" rm -f >/dev/null
    scripts/docker-down.sh
}
trap cleanup EXIT
nodes=()
for n in 1 2 3; do
    name=ttydports-demo-r$n
    "$docker" rm -f "$name" >/dev/null 2>&1 || true
    "$docker" run -d --label ttydports.demo=1 --label netlab.user=demo-user --label netlab.topology=demo-topology \
        --name "$name" --hostname "$name" --network none ttydports/busybox:test sleep infinity >/dev/null
    nodes+=("$name")
done
log "demo lab: ${nodes[*]}"
dotnet run --project samples/TtydPorts.ConsoleSample -- "$@" "${nodes[@]}"
