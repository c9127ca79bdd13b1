"""Serves the seed's get_session (shared/baseline/seed_ttyd.py, unchanged) to the first-prompt scenario, over stdin
and stdout, one line each: "ensure CONTAINER" answers "PORT PID" (the seed's ttyd on 127.0.0.1 running
`docker exec -it CONTAINER sh`, as the NetLabBuilder backend did); "cleanup" runs cleanup_all and answers "done".
End of input cleans up too.

usage: TTYD=/path/to/ttyd /usr/bin/python3 seed_sessions.py SEED_DIR PORT_START PORT_END
"""
import sys

seed_dir, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, seed_dir)
import seed_ttyd as s  # noqa: E402

s.PORT_START, s.PORT_END = start, end
s.find_free_port.__defaults__ = (start, end)
command = lambda c: ["docker", "exec", "-it", c, "sh"]

try:
    for line in sys.stdin:
        verb, _, arg = line.strip().partition(" ")
        if verb == "ensure":
            port = s.get_session(arg, command)
            print(f"{port} {s.ttyd_processes[arg]['pid']}", flush=True)
        elif verb == "cleanup":
            s.cleanup_all()
            print("done", flush=True)
finally:
    s.cleanup_all()
