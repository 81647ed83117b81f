#!/usr/bin/env python3
"""Side-by-side table of bench/compat-bench.sh's figures.

    compat-report.py BEST_FILE STACK_A STACK_B

BEST_FILE holds "BENCH <stack>/<figure> <value> <unit> ..." lines (report.py
best). Prints every figure for both stacks with B/A, then each stack's
edgekey signatures/s against its own ESYS floor (the issue-10 target: >= 0.9).
Reports only; judges nothing but prints NOT MEASURED for a missing figure."""
import re
import sys

# edgekey figure -> the floor figure it is held against (same stack)
FLOOR_OF = {
    "sign/edgekey/p256/ecdsa": "floor/p256-ecdsa/password",
    "sign/edgekey/rsa2048/pkcs1": "floor/rsa2048-pkcs1/password",
    "sign/edgekey/rsa2048/pss": "floor/rsa2048-pss/password",
    "sign/edgekey/p256_auth/ecdsa": "floor/p256-ecdsa/session",
}


def load(path):
    vals = {}
    for line in open(path):
        m = re.match(r"BENCH (\S+?)/(\S+) (\S+) (\S+)", line)
        if m:
            vals.setdefault(m.group(2), {})[m.group(1)] = (float(m.group(3)), m.group(4))
    return vals


def fmt(x):
    return "NOT MEASURED" if x is None else f"{x:g}"


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    vals, a, b = load(argv[1]), argv[2], argv[3]
    print(f"\n{'figure':44} {a:>14} {b:>14} {b + '/' + a:>10}  unit")
    for fig in sorted(vals):
        va = vals[fig].get(a, (None, ""))[0]
        vb = vals[fig].get(b, (None, ""))[0]
        unit = next(iter(vals[fig].values()))[1]
        ratio = f"{vb / va:.2f}" if va and vb is not None else "n/a"
        print(f"{fig:44} {fmt(va):>14} {fmt(vb):>14} {ratio:>10}  {unit}")
    print(f"\n{'edgekey signs/s / ESYS floor (same stack)':44} {a:>14} {b:>14}")
    for fig, floor in FLOOR_OF.items():
        cells = []
        for s in (a, b):
            num = vals.get(fig, {}).get(s, (None,))[0]
            den = vals.get(floor, {}).get(s, (None,))[0]
            cells.append(f"{num / den:.2f}" if num and den else "NOT MEASURED")
        print(f"{fig + ' / ' + floor.split('/', 1)[1]:44} {cells[0]:>14} {cells[1]:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
