#!/usr/bin/env bash
# Scale in both listen modes, against the seed's status, in one run: the seed's algorithm (shared/baseline) with 200
# live sessions on ports 21000-21999 (status timed 3 times, then its cleanup), then ours, RUNS times each mode: N
# sessions (default 2000) created, status at 200 and at N (median of 101 calls), all cleaned up at once, leaks checked.
# Proxy mode: one Unix socket per session (the observer ttyd starts only when somebody watches; about 2.2 GB PSS at 2000);
# direct mode: ports 30000-31999. Containers are the benchmark-only EveryContainerRunning (see docs/benchmarks.md).
# usage: scripts/bench-scale-modes.sh [N] [RUNS]      (SEED_DIR overrides where the seed is)
set -euo pipefail
SCRIPT_NAME=bench-scale-modes
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench-common.sh
source scripts/bench-common.sh

SESSIONS=${1:-2000}
RUNS=${2:-2}
SEED_N=200 SEED_START=21000 SEED_END=21999
START=30000 END=$((30000 + SESSIONS - 1))
scripts/install-bench-deps.sh
seed_dir=$(bench_seed_dir)
bench_require_free_range "$SEED_START" "$SEED_END"
bench_require_free_range "$START" "$END"
# Each pending readiness probe holds a socket, each session a pidfd and a held /proc stat file.
if (( $(ulimit -n) < 16384 )); then ulimit -n 16384 || die "cannot raise the open-file limit to 16384 (ulimit -n)"; fi
work=$(mktemp -d)
trap 'bench_sweep; rm -rf "$work"' EXIT
bench_build

log "seed: status and cleanup with $SEED_N sessions ($seed_dir)"
(cd "$work" && TTYD=$(command -v ttyd) /usr/bin/python3 "$OLDPWD/benchmarks/seed/seed_status.py" "$seed_dir" "$SEED_N" "$SEED_START" "$SEED_END") >"$work/seed.json"
echo "seed: $(cat "$work/seed.json")"
status=0
for run in $(seq 1 "$RUNS"); do
    for mode in proxy direct; do
        log "ours: $mode mode, $SESSIONS sessions, run $run of $RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
        dotnet "$BENCH_DLL" --scenario scale-modes --mode "$mode" --sessions "$SESSIONS" --mark "$SEED_N" --range "$START" "$END" >"$work/$mode-$run.json" || status=1
        cat "$work/$mode-$run.json"
    done
done
/usr/bin/python3 - "$work" "$SESSIONS" "$SEED_N" <<'EOF'
import glob, json, statistics, sys
work, n, mark = sys.argv[1], sys.argv[2], sys.argv[3]
seed = json.load(open(f"{work}/seed.json"))
print(f"\nseed (Python + psutil), {mark} sessions: status {seed['status_ms_median']:.1f} ms (median of {seed['status_calls']}), cleanup {seed['cleanup_all_s']:.3f} s")
print(f"{'figure':<46} {'mode':<7} {'min':>10} {'median':>10} {'seed/ours (median)':>20}")
for mode in ("proxy", "direct"):
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{work}/{mode}-*.json"))]
    def row(name, key, seed_value=None):
        values = [r[key] for r in runs if key in r]
        if not values:
            return
        med = statistics.median(values)
        ratio = f"{seed_value / med:,.0f}x" if seed_value else ""
        print(f"{name:<46} {mode:<7} {min(values):>10.4g} {med:>10.4g} {ratio:>20}")
    row(f"status at {mark}, median of 101 calls (ms)", f"status_{mark}_median_ms", seed["status_ms_median"])
    row(f"status at {n}, median of 101 calls (ms)", f"status_{n}_median_ms")
    row(f"status per session at {n} / at {mark}", "status_per_session_ratio")
    row(f"cleanup of {n} sessions (s)", "clean_s")
    row("floor: as many raw ttyd, SIGTERM to all (s)", "raw_sigterm_all_s")
    row("cleanup / floor (same run)", "clean_over_raw")
    row("PSS of the sessions' processes (MB)", "ttyd_pss_mb")
    row("PSS of the host (MB)", "host_pss_mb")
    row("leaked processes, ports, reservations, files", "leaked_processes")
    for r in runs:
        leaks = sum(r.get(k, 0) for k in ("leaked_processes", "leaked_ports_listening", "leaked_port_reservations", "leaked_files"))
        if leaks or r.get("stop_failures") or "error" in r:
            print(f"  {mode}: LEAK or failure: {r}")
EOF
exit "$status"
