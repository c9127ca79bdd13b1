#!/usr/bin/env bash
# The README's main command: installs ttyd, tmux, the exec client (ttydports-exec) and a Docker engine when missing, then runs the NetLabBuilder web sample
# in proxy mode with a demo topology of busybox containers for the student alice (label ttydports.demo=1), and prints the
# address to open and the demo accounts with their passwords (random, new at every start).
# Ctrl+C stops the sample; it removes its terminals and containers, and this script removes any demo container left
# behind and an engine it started. `--once` checks through login and proxy that the page and every terminal answer (and refuse another student), then exits.
# Other arguments go to the sample (e.g. --Lab:NodesPerTopology=2). The address: SAMPLE_URL, default http://127.0.0.1:5080
# (loopback only: the sample's AllowedHosts refuse other host names, and it has demo passwords on plain HTTP; from another
# machine, through an SSH tunnel: ssh -L 5080:127.0.0.1:5080 USER@THIS-MACHINE, then http://127.0.0.1:5080/ there).
# Runs as root (apt-get, a Docker engine), with the .NET 10 SDK's dotnet on PATH: both are checked before anything else.
# `--profile netlab`: the NetLabBuilder backend's API for the NetLab frontend instead (no login, no demo topology, CORS for
# http://localhost:5173 and http://127.0.0.1:5173 or --NetLab:AllowedOrigins:0=...), on SAMPLE_URL, default
# http://localhost:5050, where that frontend calls; `--once` then checks it as the frontend calls it.
set -euo pipefail
SCRIPT_NAME=run-sample
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Preflight, before anything is installed: what this script cannot provide itself.
command -v dotnet >/dev/null 2>&1 || die "dotnet was not found on PATH: install the .NET 10 SDK first (Microsoft's package dotnet-sdk-10.0, or its dotnet-install script; see the README's quick start), then run this again"
require_root

profile=
previous=
for argument in "$@"; do
    case "$argument" in
        --profile=*) profile=${argument#--profile=} ;;
        *) [[ $previous == --profile ]] && profile=$argument ;;
    esac
    previous=$argument
done
if [[ $profile == netlab ]]; then
    url=${SAMPLE_URL:-http://localhost:5050}
    demo=()
else
    url=${SAMPLE_URL:-http://127.0.0.1:5080}
    demo=(--Lab:DemoUser=alice)
fi

# The address must be free, or the sample fails at its start, after the installs and the build: check it first.
# address_in_use URL: something accepts connections on URL's host and port (a wildcard host is checked on loopback).
address_in_use() {
    local rest=${1#*://} host port
    rest=${rest%%/*}
    if [[ $rest == \[*\]* ]]; then host=${rest%%]*}; host=${host#[}; port=${rest#*]}; port=${port#:}
    else host=${rest%%:*}; port=""; if [[ $rest == *:* ]]; then port=${rest##*:}; fi; fi
    if [[ -z $port ]]; then if [[ $1 == https:* ]]; then port=443; else port=80; fi; fi
    case $host in ""|"*"|+|0.0.0.0) host=127.0.0.1 ;; ::) host=::1 ;; esac
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null || return 1
    echo "$host:$port"
}
urls_given=false
for argument in "$@"; do [[ $argument == --urls* ]] && urls_given=true; done
if [[ $urls_given == false ]] && taken=$(address_in_use "$url"); then
    port=${taken##*:}
    who=""
    if command -v ss >/dev/null 2>&1; then who=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1 | tr -s ' '); fi
    if [[ $profile == netlab ]]; then
        other="SAMPLE_URL=http://localhost:$((port + 1)) scripts/run-sample.sh --profile netlab (and point the NetLab frontend at that address)"
    else
        other="SAMPLE_URL=http://127.0.0.1:$((port + 1)) scripts/run-sample.sh"
    fi
    die "port $port is in use: something already accepts connections on $taken, the sample's address $url${who:+ ($who)}. Stop it (an earlier scripts/run-sample.sh?) or give the sample another address, e.g. $other"
fi

scripts/install-ttyd.sh
scripts/install-tmux.sh
scripts/install-exec-client.sh
# An engine that already answers (the tests', or one started by hand) is left running at the end; only one this run
# started is stopped.
engine_was_up=false
if [[ -n $(docker_client) ]] && "$(docker_client)" version >/dev/null 2>&1; then engine_was_up=true; fi
scripts/docker-up.sh
docker=$(docker_client)
cleanup() {
    local ids
    # One container at a time, each bounded (remove_containers: several at once can deadlock Docker 20.10, moby#46661),
    # so that Ctrl+C never hangs here and an engine this run started is still stopped.
    if ids=$(timeout 30 "$docker" ps -aq --filter label=ttydports.demo=1); then
        # shellcheck disable=SC2086 # one id a word
        if [[ -n $ids ]]; then REMOVE_TIMEOUT=30 remove_containers "$docker" -- $ids || log "some demo containers could not be removed"; fi
    else
        log "the Docker engine did not list the demo containers within 30 s; not removing them"
    fi
    if [[ $engine_was_up == false ]]; then scripts/docker-down.sh; else log "leaving the Docker engine running (it was up before this run)"; fi
}
trap cleanup EXIT
log "building the sample"
run_quiet dotnet build samples/NetLabBuilder.Sample -c Release || die "dotnet build failed"
# The docker client that matches the engine, for the sample; its terminals are opened by the exec client installed above
# (about 0.15 MiB on the host per terminal instead of the CLI's 12-14; --TtydPorts:ExecClientPath= goes back to the CLI).
dotnet run --no-build -c Release --project samples/NetLabBuilder.Sample -- \
    --urls "$url" "${demo[@]}" --TtydPorts:DockerPath="$docker" \
    --TtydPorts:ExecClientPath="${TTYDPORTS_EXEC_CLIENT:-/usr/local/lib/ttydports/ttydports-exec}" "$@"
