"""Runs the seed's own timing script (bench_seed.py, unchanged) on a port range of our choosing, then the same
race for 64 callers, and prints one JSON line. Nothing under the seed's folder is modified: this wrapper only
sets the module's constants before bench_seed.py imports it.

usage: TTYD=/path/to/ttyd /usr/bin/python3 seed_compare.py SEED_DIR N_SESSIONS PORT_START PORT_END
"""
import contextlib
import io
import json
import runpy
import sys
import threading
import time

seed_dir, n, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, seed_dir)
import seed_ttyd as s  # noqa: E402  (the same module object bench_seed.py imports)

s.PORT_START, s.PORT_END = start, end
# find_free_port took its range as default arguments when it was defined: set them too.
s.find_free_port.__defaults__ = (start, end)

# 1. The seed's own script, as is: create, reuse, status, find_free_port, cleanup_all, race of 8.
out_buffer = io.StringIO()
sys.argv = [f"{seed_dir}/bench_seed.py", str(n)]
with contextlib.redirect_stdout(out_buffer):
    runpy.run_path(f"{seed_dir}/bench_seed.py", run_name="__main__")
result = json.loads(out_buffer.getvalue().strip().splitlines()[-1])
result["port_range"] = [start, end]

# 2. The same race as bench_seed.py's, for 8 and 64 callers, also counting the ttyd processes still
#    running once every caller has returned (the seed leaks the losers that found the port free).
cmd = lambda c: ["sleep", "3600"]
orig = s.start_ttyd
for callers in (8, 64):
    spawned = []

    def counting(*args):
        p = orig(*args)
        spawned.append(p)
        return p

    s.start_ttyd = counting
    ts = [threading.Thread(target=s.get_session, args=(f"racer{callers}", cmd)) for _ in range(callers)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    time.sleep(0.3)  # let the processes that lost the bind exit (ttyd exits about 8 ms after a failed bind)
    result[f"race{callers}_processes_started"] = len(spawned)
    result[f"race{callers}_processes_running_after"] = sum(1 for p in spawned if p.poll() is None)
    for p in spawned:
        p.kill()
        p.wait()
    s.ttyd_processes.clear()
    s.container_ports.clear()
s.start_ttyd = orig
print(json.dumps(result))
