#!/usr/bin/env python3
"""The library's migration against the same migration in minimal C, round by round.

Each round runs, back to back: `migration-floor --populate 1` with each
--placers value (the issue's populate floor for the data bytes, measured at
that moment, then the whole migration in C), then `postcopy demo` on the same
cell; odd rounds run them in the reverse order. Prints every round and the medians of the times and of the per-round
ratios to that round's populate floor; writes results/c-migration.json.

    cd bench && swift build -c release && python3 c-migration-compare.py
        [--size 2G] [--free 0.5] [--threads 4] [--rounds 9] [--transport tcp] [--placers 0,1]
        [--library ARGS]...

--library adds a library variant: extra `postcopy demo` arguments, e.g.
--library "" --library "--placing-threads 0" (default: one variant, no extra
arguments); a NAME=VALUE word sets an environment variable for that variant
(for the diagnostics in bench/diagnostics). Variants run one after another
in each round.

Why per round: on this VM the host takes back memory the guest reports free
(virtio-balloon free page reporting), and memory it must back again is slow
to touch for a while, for the library, the C floor and the populate floor alike.
"""
import argparse
import json
import os
import statistics
import subprocess

from migration_floor import MIGRATION_FLOOR, run_migration_floor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POSTCOPY = os.path.join(ROOT, ".build", "release", "postcopy")


def c_round(options, placers):
    return run_migration_floor(options.size, options.free, options.threads, options.transport, placers, populate=True)


def demo_round(options, extra):
    words = extra.split()
    environment = dict(os.environ)
    environment.update(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
    arguments = [word for word in words if not ("=" in word and not word.startswith("-"))]
    out = subprocess.run([POSTCOPY, "demo", "--size", options.size, "--free", str(options.free), "--untouched", "0",
                          "--zero", "0", "--transport", options.transport, "--threads", str(options.threads), "--json"]
                         + arguments, env=environment, timeout=1800,
                         check=True, capture_output=True, text=True).stdout
    summary = json.loads(out)
    if summary["pagesDiffering"] != 0:
        raise SystemExit(f"demo: {summary['pagesDiffering']} pages differ")
    d = summary["destination"]
    return {"seconds": d["totalSeconds"], "pagesRequested": d["pagesRequested"],
            "dataBytes": summary["source"]["dataPages"] * d["pageSize"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2G")
    parser.add_argument("--free", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--transport", default="tcp", choices=["tcp", "unix"])
    parser.add_argument("--placers", default="0,1")
    parser.add_argument("--library", action="append", help="extra demo arguments of a library variant")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "c-migration.json"))
    options = parser.parse_args()
    variants = options.library if options.library else [""]
    placer_values = [int(p) for p in options.placers.split(",")]
    for program in (POSTCOPY, MIGRATION_FLOOR):
        if not os.path.exists(program):
            raise SystemExit(f"{program} is not built (swift build -c release, in the root and in bench/)")
    os.makedirs(os.path.dirname(options.out), exist_ok=True)

    demo_round(options, variants[0])  # unmeasured: the first run at a size meets memory the host has just taken back
    rounds = []
    for index in range(options.rounds):
        # Odd rounds run the library first: what ran just before a run shapes
        # the memory it gets from the host, so no side keeps the same place.
        row = {"c": {}, "library": {}}
        steps = [("c", p) for p in placer_values] + [("library", v) for v in variants]
        for kind, key in (steps if index % 2 == 0 else list(reversed(steps))):
            row[kind][key] = c_round(options, key) if kind == "c" else demo_round(options, key)
        populate = statistics.median(row["c"][p]["populateSeconds"] for p in placer_values)
        row["populateSeconds"] = populate
        rounds.append(row)
        cells = "  ".join(f"C placers {p} {row['c'][p]['seconds']:.3f} s ({row['c'][p]['requests']} req)"
                          for p in placer_values)
        libraries = "  ".join(f"library [{v}] {row['library'][v]['seconds']:.3f} s ({row['library'][v]['pagesRequested']} req)"
                              for v in variants)
        print(f"round {index + 1}: populate {populate:.3f} s  {cells}  {libraries}", flush=True)
    json.dump({"options": vars(options), "rounds": rounds}, open(options.out, "w"), indent=2)

    print(f"\nmedians over {len(rounds)} rounds ({options.size}, free {options.free}, {options.threads} workload "
          f"threads, {options.transport}):")
    print(f"{'':>18} {'time s':>8} {'/ populate':>11}")
    print(f"{'populate floor':>18} {statistics.median(r['populateSeconds'] for r in rounds):8.3f} {1:10.2f}x")
    for p in placer_values:
        print(f"{'C, placers ' + str(p):>18} {statistics.median(r['c'][p]['seconds'] for r in rounds):8.3f} "
              f"{statistics.median(r['c'][p]['seconds'] / r['populateSeconds'] for r in rounds):10.2f}x")
    best_c = min(placer_values, key=lambda p: statistics.median(r['c'][p]['seconds'] for r in rounds))
    for v in variants:
        print(f"{'library [' + v + ']':>18} {statistics.median(r['library'][v]['seconds'] for r in rounds):8.3f} "
              f"{statistics.median(r['library'][v]['seconds'] / r['populateSeconds'] for r in rounds):10.2f}x"
              f"   / best C (placers {best_c}), per round: "
              f"{statistics.median(r['library'][v]['seconds'] / r['c'][best_c]['seconds'] for r in rounds):.2f}x")
    print(f"figures written to {options.out}")


if __name__ == "__main__":
    main()
