#!/usr/bin/env python3
"""Bytes on the wire of two `postcopy` builds, interleaved round by round.

Runs `postcopy demo --json` on the issue's target cell (by default 2 GiB, 50%
free, 4 workload threads, TCP) with the repository's release build and with a
baseline build, alternating, and prints per round the overhead beyond the data
pages and the remote-fault requests. A least-squares fit of overhead against
requests splits it into a fixed part and a part per request.

    git worktree add /tmp/base <rev> && (cd /tmp/base && swift build -c release --product postcopy)
    python3 bench/wire-compare.py --baseline /tmp/base/.build/release/postcopy --rounds 7
"""
import argparse
import json
import os
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
POSTCOPY = os.path.join(os.path.dirname(HERE), ".build", "release", "postcopy")


def demo(binary, args):
    command = [binary, "demo", "--size", args.size, "--free", str(args.free), "--untouched", "0", "--zero", "0",
               "--transport", "tcp", "--threads", str(args.threads), "--json"]
    summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    if summary["pagesDiffering"] != 0:
        raise SystemExit(f"{binary}: {summary['pagesDiffering']} pages differ")
    d, s = summary["destination"], summary["source"]
    data = s["dataPages"] * d["pageSize"]
    wire = d["wireBytesReceived"] + d["wireBytesSent"]
    return {"seconds": d["totalSeconds"], "data": data, "wire": wire, "requests": d["pagesRequested"],
            "overheadPercent": (wire - data) / data * 100, "remoteP50": d["remoteLatencyMicroseconds"]["p50"]}


def fit(rows):
    """Overhead bytes = fixed + perRequest * requests, least squares."""
    xs = [r["requests"] for r in rows]
    ys = [r["wire"] - r["data"] for r in rows]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    per = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread if spread else float("nan")
    return my - per * mx, per


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the other build's postcopy binary")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", default="2G")
    parser.add_argument("--free", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "wire-compare.json"))
    args = parser.parse_args()
    builds = {"baseline": args.baseline, "this": POSTCOPY}
    rows = {name: [] for name in builds}
    for round in range(args.rounds):
        for name, binary in builds.items():
            row = demo(binary, args)
            rows[name].append(row)
            print(f"round {round + 1}/{args.rounds} {name:8} {row['seconds']:.3f} s  wire {row['overheadPercent']:+.4f}%"
                  f"  requests {row['requests']:6}  remote p50 {row['remoteP50']:.0f} us", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    json.dump({"command": vars(args), "rows": rows}, open(args.out, "w"), indent=1)
    for name, rs in rows.items():
        fixed, per = fit(rs)
        overheads = [r["overheadPercent"] for r in rs]
        within = sum(1 for value in overheads if value <= 0.1)
        print(f"{name:8} median {statistics.median(r['seconds'] for r in rs):.3f} s; wire median {statistics.median(overheads):+.4f}%,"
              f" max {max(overheads):+.4f}%, {within}/{len(rs)} rounds within +0.1%;"
              f" requests {min(r['requests'] for r in rs)}-{max(r['requests'] for r in rs)};"
              f" fit: {fixed:.0f} bytes fixed + {per:.1f} per request")


if __name__ == "__main__":
    main()
