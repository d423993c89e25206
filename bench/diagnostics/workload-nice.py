#!/usr/bin/env python3
"""Diagnostic: the target cell with the demo's workload threads at several
nice values, interleaved round by round. Needs workload-nice.patch applied
and a release build:

    git apply bench/diagnostics/workload-nice.patch
    swift build -c release --product postcopy
    python3 bench/diagnostics/workload-nice.py 5 0,10,19
    git apply -R bench/diagnostics/workload-nice.patch

Prints per round (migration seconds, workload accesses, remote faults) and
the medians per nice value.
"""
import json
import os
import statistics
import subprocess
import sys

POSTCOPY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "postcopy")
rounds = int(sys.argv[1])
nices = sys.argv[2].split(",")
results = {nice: [] for nice in nices}
for index in range(rounds):
    for nice in nices:
        env = dict(os.environ, POSTCOPY_WORKLOAD_NICE=nice)
        out = subprocess.run([POSTCOPY, "demo", "--size", "2G", "--free", "0.5", "--untouched", "0", "--zero", "0",
                              "--transport", "tcp", "--threads", "4", "--json"],
                             env=env, capture_output=True, text=True, check=True).stdout
        summary = json.loads(out)
        if summary["pagesDiffering"] != 0:
            raise SystemExit(f"{summary['pagesDiffering']} pages differ")
        row = (round(summary["destination"]["totalSeconds"], 3), summary["workload"]["accesses"],
               summary["destination"]["faultsRemote"])
        results[nice].append(row)
        print(index, nice, row, flush=True)
for nice in nices:
    print(f"nice {nice}: median {statistics.median(r[0] for r in results[nice]):.3f} s, "
          f"median accesses {statistics.median(r[1] for r in results[nice]):.0f}")
