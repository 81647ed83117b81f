#!/usr/bin/env python3
"""Core's layers hold: no call loop between core's files, and no file calls
a layer above its own (issue 10). Reads the defined and undefined symbols of
every object in the static core library (nm), so it checks what the code
calls, not what it includes.

  check-layers.py LIBEDGEKEY-CORE-INT.a

Layers, lowest first: base, keys, tpm, store (core/meson.build). An object
is named by meson for its source path (base_error.c.o: core/base/error.c).
Fails naming each upward call (file -> file: symbol) and each loop."""
import collections
import subprocess
import sys

LAYERS = ["base", "keys", "tpm", "store"]


def symbols(lib):
    out = subprocess.run(["nm", "-A", lib], capture_output=True, text=True, check=True).stdout
    defs, undefs = collections.defaultdict(set), collections.defaultdict(set)
    for line in out.splitlines():
        where, _, rest = line.rpartition(":")
        obj = where.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        parts = rest.split()
        if len(parts) == 3 and parts[1] in "TDBRC":
            defs[obj].add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            undefs[obj].add(parts[1])
    return defs, undefs


def layer_of(obj):
    head = obj.split("_", 1)[0]
    return LAYERS.index(head) if head in LAYERS else None


def loops(graph):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    defs, undefs = symbols(sys.argv[1])
    owner = {s: o for o, ds in defs.items() for s in ds}
    graph, bad = collections.defaultdict(set), []
    unknown = [o for o in defs if layer_of(o) is None]
    for obj in defs:
        graph[obj]
        for sym in sorted(undefs[obj]):
            to = owner.get(sym)
            if not to or to == obj:
                continue
            graph[obj].add(to)
            if layer_of(obj) is not None and layer_of(to) is not None and \
                    layer_of(to) > layer_of(obj):
                bad.append(f"{obj} -> {to}: {sym}")
    found = loops(graph)
    for b in bad:
        print(f"upward call: {b}")
    for comp in found:
        print(f"call loop: {' <-> '.join(comp)}")
    for o in unknown:
        print(f"object outside the layers: {o}")
    if len(defs) < 20:
        print(f"only {len(defs)} objects in {sys.argv[1]}: wrong library?")
        return 1
    if bad or found or unknown:
        return 1
    print(f"core layers: {len(defs)} files, no upward call, no loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
