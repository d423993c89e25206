"""What the bench scripts share about `migration-floor`, the demo's migration in
minimal C (bench/Sources/migration-floor): where it is and how one run goes."""
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATION_FLOOR = os.path.join(HERE, ".build", "release", "migration-floor")


def size_bytes(text):
    """'2G' -> 2147483648; plain numbers are bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def run_migration_floor(size, free, threads, transport="tcp", placers=0, populate=False):
    """One round; its JSON object. Fails the script if any page arrived wrong."""
    out = subprocess.run([MIGRATION_FLOOR, "--size", str(size_bytes(size)), "--free", str(free),
                          "--threads", str(threads), "--transport", transport, "--placers", str(placers),
                          "--populate", "1" if populate else "0"],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    result = json.loads(out.splitlines()[-1])
    if result["pagesWrong"] != 0:
        raise SystemExit(f"migration-floor {size} free {free}: {result['pagesWrong']} pages wrong")
    return result
