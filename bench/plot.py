#!/usr/bin/env python3
"""PNG plots for bench/RESULTS.md (needs matplotlib: pip install matplotlib).

    python3 plot.py [--faults results/bench-faults.json] [--migration results/migration.json]

fault-latency-cdf.png: for each class of fault, the distribution of the
faulting touches' latency, C floor against swift-postcopy (the round with the
median p50 of each). migration-time.png: migration time against the free
fraction for each region size, skipping on and off, the same migration in
minimal C (migration-floor) where the sweep ran it, and the floor.
"""
import argparse
import json
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def fault_cdf(path, out):
    rounds = json.load(open(path))
    panels = [("remote", "unix", "random", False, "remote, idle, Unix"),
              ("remote", "tcp", "random", False, "remote, idle, TCP"),
              ("remote", "unix", "random", True, "remote, stream saturating, Unix"),
              ("remote", "tcp", "random", True, "remote, stream saturating, TCP"),
              ("remote", "tcp", "sequential", True, "remote, stream saturating, TCP, sequential"),
              ("free", None, "random", False, "free page (local ZEROPAGE)")]
    figure, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for axis, (fault_class, transport, order, stream, title) in zip(axes.flat, panels):
        for implementation, style in (("C floor", "--"), ("swift-postcopy", "-")):
            these = [r for r in rounds if r["faultClass"] == fault_class and r["order"] == order
                     and r["stream"] == stream and r["implementation"] == implementation and r["quantileNanoseconds"]
                     and (transport is None or r["transport"] == transport)]
            if not these:
                continue
            middle = sorted(these, key=lambda r: r["latencyNanoseconds"]["p50"])[len(these) // 2]
            xs = [q / 1000 for q in middle["quantileNanoseconds"]]
            ys = [i / 1000 for i in range(len(xs))]
            axis.plot(xs, ys, style, label=f"{implementation} ({middle['faults']} faults)")
        axis.set_xscale("log")
        axis.set_xlabel("latency of a faulting touch (µs)")
        axis.set_ylabel("fraction of faults")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    figure.suptitle("Fault latency: swift-postcopy against the C floor (same run)")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


def migration_time(path, out):
    data = json.load(open(path))
    floors, runs = data["floors"], data["runs"]
    bottleneck = min(floors["populateUffdCopy"], floors["linkTcp"])
    sizes = sorted({r["size"] for r in runs}, key=lambda s: float(s[:-1]))
    figure, axis = plt.subplots(figsize=(9, 6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, size in zip(colors, sizes):
        for skip, style in ((True, "-o"), (False, "--s")):
            fractions = sorted({r["free"] for r in runs if r["size"] == size and r["skip"] == skip})
            times = [statistics.median(r["seconds"] for r in runs
                                       if r["size"] == size and r["skip"] == skip and r["free"] == f) for f in fractions]
            axis.plot(fractions, times, style, color=color, label=f"{size}, skipping {'on' if skip else 'off'}")
        c_runs = [r for r in data.get("cMigrationRuns", []) if r["size"] == size]
        c_fractions = sorted({r["free"] for r in c_runs})
        if c_fractions:
            axis.plot(c_fractions, [statistics.median(r["seconds"] for r in c_runs if r["free"] == f)
                                    for f in c_fractions], "-.^", color=color, label=f"{size}, minimal C migration")
        fractions = sorted({r["free"] for r in runs if r["size"] == size})
        region = next(r["regionBytes"] for r in runs if r["size"] == size)
        axis.plot(fractions, [region * (1 - f) / bottleneck for f in fractions], ":", color=color,
                  label=f"{size}, floor (non-free bytes at {bottleneck / 2**30:.2f} GiB/s)")
    axis.set_xlabel("free fraction of the region")
    axis.set_ylabel("migration time (s), switchover to completion")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    axis.set_title("Migration time against free fraction (TCP loopback, 4 threads touching)")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", default=os.path.join(HERE, "results", "bench-faults.json"))
    parser.add_argument("--migration", default=os.path.join(HERE, "results", "migration.json"))
    options = parser.parse_args()
    if os.path.exists(options.faults):
        fault_cdf(options.faults, os.path.join(HERE, "fault-latency-cdf.png"))
    if os.path.exists(options.migration):
        migration_time(options.migration, os.path.join(HERE, "migration-time.png"))


if __name__ == "__main__":
    main()
