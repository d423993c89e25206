#!/usr/bin/env python3
"""Diagnostic: CPU time per migration thread in the target cell, from perf
samples, for two or more values of X_BULK_PIECES (needs bulk-pieces.patch
applied and a release build), interleaved round by round:

    git apply bench/diagnostics/bulk-pieces.patch
    swift build -c release --product postcopy
    python3 bench/diagnostics/thread-cpu.py 5 16,0 0     # rounds, values, workload threads
    git apply -R bench/diagnostics/bulk-pieces.patch

Each demo runs under `perf record -a`. The window is from the first to the
last sample of the destination's bulk-lane receiver (`bulk lane`); a thread's
CPU seconds are its share of the window's samples times 2 CPUs times the
window. Prints per round and the medians.
"""
import collections
import json
import os
import statistics
import subprocess
import sys

POSTCOPY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "postcopy")
CPUS = os.cpu_count()
rounds = int(sys.argv[1])
settings = sys.argv[2].split(",")
threads = sys.argv[3] if len(sys.argv) > 3 else "0"
results = collections.defaultdict(list)
for index in range(rounds):
    for setting in settings:
        env = dict(os.environ, X_BULK_PIECES=setting)
        with open("/tmp/thread-cpu.json", "w") as out:
            subprocess.run(["perf", "record", "-a", "-q", "-o", "/tmp/thread-cpu.data", "--", POSTCOPY, "demo",
                            "--size", "2G", "--free", "0.5", "--untouched", "0", "--zero", "0",
                            "--threads", threads, "--json"], env=env, check=True, stdout=out, stderr=subprocess.DEVNULL)
        summary = json.load(open("/tmp/thread-cpu.json"))
        if summary["pagesDiffering"] != 0:
            raise SystemExit(f"{summary['pagesDiffering']} pages differ")
        seconds = summary["destination"]["totalSeconds"]
        script = subprocess.run(["perf", "script", "-i", "/tmp/thread-cpu.data", "-F", "comm,time"],
                                capture_output=True, text=True).stdout
        samples = []
        for line in script.splitlines():
            parts = line.rsplit(None, 1)
            if len(parts) == 2:
                samples.append((parts[0].strip(), float(parts[1].rstrip(":"))))
        lane = [time for comm, time in samples if comm == "bulk lane"]
        start, end = min(lane), max(lane)
        window = [comm for comm, time in samples if start <= time <= end]
        counts = collections.Counter(window)
        cpu = {name: round(counts[name] / len(window) * CPUS * (end - start), 3)
               for name in ("bulk stream", "bulk lane", "placing", "lanes", "swapper")}
        results[setting].append((seconds, cpu))
        print(index, setting, round(seconds, 3), cpu, flush=True)
for setting in settings:
    rows = results[setting]
    print(f"X_BULK_PIECES={setting}: median {statistics.median(r[0] for r in rows):.3f} s,",
          {name: round(statistics.median(r[1][name] for r in rows), 3) for name in rows[0][1]})
