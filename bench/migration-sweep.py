#!/usr/bin/env python3
"""Migration time and bytes on the wire against the populate and link floors.

Runs `postcopy demo` (release build) for every region size and free fraction,
with skipping on and off, after measuring the C floors (populate, link) with
`uffd-bench --only floors` in the same run. Writes every figure to
results/migration.json and prints a table of medians and ratios.

    cd bench && python3 migration-sweep.py [--sizes 1G,2G,4G,8G] [--free 0,0.5,0.9]
                                           [--rounds 1] [--target-rounds 3] [--threads 4]
                                           [--placing-threads N] [--skip-only] [--no-c-migration]

Regions: only free pages and data pages (--untouched 0 --zero 0), so the
non-free bytes are exactly the data that must travel. The destination runs its
4-thread workload (reading and writing pages while they arrive). The 2 GiB at
50% free case (the issue's target) runs --target-rounds times.

Two floors for a migration, both the non-free bytes at the lower of a populate
and the link (TCP) throughput: the issue's, whose populate floor is a first
touch of fresh memory (one byte per page), and a stricter one whose populate
floor is UFFDIO_COPY of 64 pages (faster than first touch here, and what the
destination itself does).

"C s": the same migration done by `migration-floor` (bench/Sources/migration-floor),
the demo's work in minimal C: same layout, workload and transport, two
processes, one UFFDIO_COPY per 64-page frame. It runs beside each skipping
demo round, after it and before it in turn, so both meet the same machine;
"vs C" is the library's median over the C median.

"host MiB": on a VM with free page reporting (virtio-balloon), how much memory
the guest reported free to the host while the row's demos ran (median). Such
memory must be backed by the host again before the guest can use it, and the
rows that ran on it are slower for reasons outside this code.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from migration_floor import MIGRATION_FLOOR, run_migration_floor, size_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POSTCOPY = os.path.join(ROOT, ".build", "release", "postcopy")
UFFD_BENCH = os.path.join(HERE, ".build", "release", "uffd-bench")


def floors(floor_mib):
    path = os.path.join(HERE, "results", "sweep-floors.json")
    subprocess.run([UFFD_BENCH, "--only", "floors", "--rounds", "3", "--floor-bytes", str(floor_mib), "--json", path],
                   check=True, stdout=sys.stderr)
    report = json.load(open(path))
    def best(rounds, prefix):
        by_name = {}
        for r in rounds:
            if r["name"].startswith(prefix):
                by_name.setdefault(r["name"], []).append(r["perSecond"])
        return {name: statistics.median(values) for name, values in by_name.items()}
    populate = best(report["populateFloors"], "populate")
    link = best(report["linkFloors"], "link tcp")
    return {
        "populateUffdCopy": populate["populate, UFFDIO_COPY x64"],
        "populateTouch": populate["populate, 1 byte per page"],
        "linkTcp": max(link.values()),
    }


# Free page reporting (virtio-balloon): memory the guest hands back to the
# host, which must back it again before the guest can use it. Where it exists,
# each row records how much was reported while the demo ran: a row with much
# reported ran on memory the host had to back anew, and is slower for it.
REPORTED_KIB = "/sys/module/page_reporting/parameters/reported_kib"


def reported_kib():
    try:
        with open(REPORTED_KIB) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def demo(size, free, skip, threads, placing):
    args = [POSTCOPY, "demo", "--size", size, "--free", str(free), "--untouched", "0", "--zero", "0",
            "--transport", "tcp", "--threads", str(threads), "--json"]
    if placing is not None:
        args += ["--placing-threads", str(placing)]
    if not skip:
        args.append("--no-skip")
    started = time.monotonic()
    reported_before = reported_kib()
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=1800).stdout
    reported_after = reported_kib()
    summary = json.loads(out)
    if summary["pagesDiffering"] != 0:
        raise SystemExit(f"demo {size} free {free}: {summary['pagesDiffering']} pages differ")
    d, s = summary["destination"], summary["source"]
    page = d["pageSize"]
    return {
        "size": size, "regionBytes": summary["regionBytes"], "free": free, "skip": skip,
        "seconds": d["totalSeconds"], "switchoverSeconds": d["switchoverSeconds"],
        "sourceSwitchoverSeconds": s["switchoverSeconds"],
        "dataBytes": s["dataPages"] * page,
        "pagesSent": s["pagesSent"], "duplicatePages": d["duplicatePages"],
        "sourceDuplicatePages": s["duplicatePages"], "requestsForPagesSent": s.get("requestsForPagesSent", 0),
        "pagesRequested": d["pagesRequested"], "threads": threads,
        "wireBytes": d["wireBytesReceived"] + d["wireBytesSent"],
        "wireBytesReceived": d["wireBytesReceived"],
        "remoteP50": d["remoteLatencyMicroseconds"]["p50"], "remoteP99": d["remoteLatencyMicroseconds"]["p99"],
        "wallSeconds": time.monotonic() - started,
        "hostReportedMiB": None if reported_before is None or reported_after is None
        else (reported_after - reported_before) // 1024,
    }


def c_migration(size, free, threads):
    """One round of the demo's migration in minimal C (TCP, like the demo here)."""
    return run_migration_floor(size, free, threads, "tcp")


def c_columns(c_runs, size, free, seconds):
    """The C migration's median for the cell and the library's time over it, or '-'."""
    these = [r["seconds"] for r in c_runs if r["size"] == size and r["free"] == free]
    if not these:
        return "-"
    c = statistics.median(these)
    return f"{c:7.3f} {seconds / c:5.2f}x"


def host_reported(rows):
    """The median MiB the guest reported free to the host during the rows' demos, or '-'."""
    values = [r["hostReportedMiB"] for r in rows if r.get("hostReportedMiB") is not None]
    return f"{statistics.median(values):.0f}" if values else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G,2G,4G,8G")
    parser.add_argument("--free", default="0,0.5,0.9")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--target-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="destination workload threads")
    parser.add_argument("--placing-threads", type=int, default=None)
    parser.add_argument("--skip-only", action="store_true", help="only runs with skipping on")
    parser.add_argument("--no-c-migration", action="store_true",
                        help="no migration-floor round after each skipping demo round")
    parser.add_argument("--no-warmup", action="store_true",
                        help="measure the first run at each size too (by default one unmeasured run goes first: "
                             "the first at a size gets memory the host has just reclaimed, and measured 1.5-3x slower)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "migration.json"))
    options = parser.parse_args()
    os.makedirs(os.path.dirname(options.out), exist_ok=True)
    sizes = options.sizes.split(",")
    fractions = [float(f) for f in options.free.split(",")]
    if not options.no_c_migration and not os.path.exists(MIGRATION_FLOOR):
        raise SystemExit(f"{MIGRATION_FLOOR} is not built (swift build -c release in bench/), or pass --no-c-migration")

    floor = floors(2048)
    print(f"floors: populate (UFFDIO_COPY x64) {floor['populateUffdCopy'] / 2**30:.2f} GiB/s, "
          f"populate (touch) {floor['populateTouch'] / 2**30:.2f} GiB/s, link TCP {floor['linkTcp'] / 2**30:.2f} GiB/s")
    runs = []
    c_runs = []
    skips = (True,) if options.skip_only else (True, False)
    combos = [(size, free, skip) for size in sizes for free in fractions for skip in skips]
    warmed = set()
    for index, (size, free, skip) in enumerate(combos, 1):
        if not options.no_warmup and size not in warmed:
            print(f"[{index}/{len(combos)}] {size} warm-up (not measured)", file=sys.stderr, flush=True)
            demo(size, 0.5, True, options.threads, options.placing_threads)
            warmed.add(size)
        rounds = options.target_rounds if (size_bytes(size) == 2 << 30 and free == 0.5) else options.rounds
        for round in range(rounds):
            print(f"[{index}/{len(combos)}] {size} free {free} skip {'on' if skip else 'off'} round {round + 1}/{rounds}",
                  file=sys.stderr, flush=True)
            with_c = skip and not options.no_c_migration
            # Every other C round goes first: what ran just before a run shapes
            # the memory the host gives it, so neither side keeps the same place.
            c_first = with_c and len(c_runs) % 2 == 1
            if c_first:
                c_runs.append(dict(c_migration(size, free, options.threads), size=size, free=free))
            runs.append(demo(size, free, skip, options.threads, options.placing_threads))
            if with_c and not c_first:
                c_runs.append(dict(c_migration(size, free, options.threads), size=size, free=free))
    json.dump({"floors": floor, "threads": options.threads, "runs": runs, "cMigrationRuns": c_runs},
              open(options.out, "w"), indent=2)

    issue_bottleneck = min(floor["populateTouch"], floor["linkTcp"])
    strict_bottleneck = min(floor["populateUffdCopy"], floor["linkTcp"])
    print(f"{'size':>5} {'free':>5} {'skip':>5} {'rounds':>6} {'time s':>8} {'floor s':>8} {'ratio':>6} {'strict':>7} "
          f"{'wire vs data':>13} {'dup pages':>9} {'requests':>9} {'p99 us':>8} {'switchover ms':>14} "
          f"{'host MiB':>9} {'C s':>7} {'vs C':>6}")
    for size in sizes:
        for free in fractions:
            for skip in skips:
                these = [r for r in runs if r["size"] == size and r["free"] == free and r["skip"] == skip]
                seconds = statistics.median(r["seconds"] for r in these)
                data = these[0]["dataBytes"] if skip else these[0]["regionBytes"]
                floor_seconds = data / issue_bottleneck
                strict_seconds = data / strict_bottleneck
                wire = statistics.median(r["wireBytes"] / data - 1 for r in these) if data else 0
                print(f"{size:>5} {free:>5} {'on' if skip else 'off':>5} {len(these):>6} {seconds:8.3f} {floor_seconds:8.3f} "
                      f"{seconds / floor_seconds if floor_seconds else 0:5.2f}x "
                      f"{seconds / strict_seconds if strict_seconds else 0:6.2f}x {wire * 100:+12.3f}% "
                      f"{statistics.median(r['duplicatePages'] for r in these):9.0f} "
                      f"{statistics.median(r['pagesRequested'] for r in these):9.0f} "
                      f"{statistics.median(r['remoteP99'] for r in these):8.0f} "
                      f"{statistics.median(r['switchoverSeconds'] for r in these) * 1000:14.2f} "
                      f"{host_reported(these):>9} {c_columns(c_runs, size, free, seconds) if skip else '':>14}")
    print(f"figures written to {options.out}")


if __name__ == "__main__":
    main()
