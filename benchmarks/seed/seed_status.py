"""The seed's status and cleanup (seed_ttyd.status, seed_ttyd.cleanup_all, unchanged) with N live sessions on a port
range of our choosing; prints one JSON line. Nothing under the seed's folder is modified: this wrapper only sets the
module's port range, as seed_compare.py does.

usage: TTYD=/path/to/ttyd /usr/bin/python3 seed_status.py SEED_DIR N_SESSIONS PORT_START PORT_END [STATUS_CALLS]
"""
import json
import statistics
import sys
import time

seed_dir, n, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
calls = int(sys.argv[5]) if len(sys.argv) > 5 else 3
sys.path.insert(0, seed_dir)
import seed_ttyd as s  # noqa: E402

s.PORT_START, s.PORT_END = start, end
s.find_free_port.__defaults__ = (start, end)
cmd = lambda c: ["sleep", "3600"]  # as bench_seed.py: only the manager is measured

out = {"n": n, "port_range": [start, end], "status_calls": calls}
try:
    for i in range(n):
        assert s.get_session(f"node{i}", cmd) is not None
    times = []
    for _ in range(calls):
        a = time.perf_counter()
        st = s.status()
        times.append((time.perf_counter() - a) * 1e3)
        # Recorded, not asserted: the seed's own start does not check that its ttyd bound the port.
        out["active_sessions"] = st["data"]["active_sessions"]
    out["status_ms_median"] = statistics.median(times)
    out["status_ms_min"] = min(times)
finally:
    a = time.perf_counter()
    s.cleanup_all()
    out["cleanup_all_s"] = time.perf_counter() - a
print(json.dumps(out))
