# shellcheck shell=bash
# Shared by the bench-*.sh scripts. Source it after common.sh.
# Every process a benchmark run starts (the .NET host, the seed's Python, every ttyd) inherits
# TTYDPORTS_BENCH_RUN; the EXIT trap kills any ttyd still carrying this run's value, whatever happened.

BENCH_RUN="bench-$$-$(date +%s%N)"
export TTYDPORTS_BENCH_RUN=$BENCH_RUN
BENCH_DLL=benchmarks/TtydPorts.Benchmarks/bin/Release/net10.0/TtydPorts.Benchmarks.dll

# bench_sweep: SIGKILL every ttyd (and tmux server, which inherits the variable) of this run still running; prints how many.
bench_sweep() {
    local n=0 p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $(cat "$p/comm" 2>/dev/null) == @(ttyd|tmux*) ]] || continue
        if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx "TTYDPORTS_BENCH_RUN=$BENCH_RUN"; then
            kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
        fi
    done
    (( n == 0 )) || echo "${SCRIPT_NAME}: swept $n ttyd process(es) of this run that were left running" >&2
}

# bench_require_free_range START END: abort when anything listens on a TCP port of the range.
bench_require_free_range() {
    local busy
    busy=$(ss -Hltn "sport >= :$1 and sport <= :$2" 2>/dev/null | awk '{print $4}' | head -n 20 | tr '\n' ' ')
    [[ -z ${busy// /} ]] || die "something already listens in $1-$2: $busy; this run needs the range free"
}

# bench_seed_dir: the seed's reconstruction (bench_seed.py, seed_ttyd.py): SEED_DIR, else shared/baseline beside the repo.
bench_seed_dir() {
    local d
    for d in "${SEED_DIR:-}" ../shared/baseline ../../shared/baseline; do
        [[ -n $d && -f $d/bench_seed.py && -f $d/seed_ttyd.py ]] && { (cd "$d" && pwd); return 0; }
    done
    die "the seed's bench_seed.py was not found: set SEED_DIR (it is shared/baseline beside the repository)"
}

bench_build() {
    log "dotnet build -c Release benchmarks/TtydPorts.Benchmarks"
    run_quiet dotnet build -c Release benchmarks/TtydPorts.Benchmarks/TtydPorts.Benchmarks.csproj || die "build failed"
}
