#!/usr/bin/env python3
"""List `crate::<module>` references between the top-level modules of a crate and report cycles.

Usage: scripts/module-cycles.py <crate>/src
A file `src/x.rs` or `src/x/**.rs` belongs to module `x`; `super::y` in a top-level file
(`src/x.rs`) also counts as a reference to `y`. Test-only references are counted too.
"""
import os, re, sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"
edges = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        rel = os.path.relpath(path, src).split(os.sep)
        if rel[0] in ("bin", "main.rs", "lib.rs"):
            continue
        mod = rel[0][:-3] if len(rel) == 1 else rel[0]
        text = open(path, encoding="utf-8").read()
        refs = set(re.findall(r"\bcrate::(\w+)", text))
        if len(rel) == 1:
            refs |= set(re.findall(r"\bsuper::(\w+)", text)) - {"super"}
        # `use crate::{a, b::c}` groups
        for grp in re.findall(r"\bcrate::\{([^}]*)\}", text):
            refs |= set(re.findall(r"(?:^|,)\s*(\w+)", grp))
        mods = {m for m in refs if os.path.exists(os.path.join(src, m + ".rs")) or os.path.isdir(os.path.join(src, m))}
        edges.setdefault(mod, set()).update(mods - {mod})

for m in sorted(edges):
    print(f"{m} -> {', '.join(sorted(edges[m])) or '-'}")

# Strongly connected components (Tarjan) with more than one module are cycles.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for v in sorted(edges):
    if v not in index: visit(v)
if sccs:
    for c in sccs: print("CYCLE:", " <-> ".join(c))
    sys.exit(1)
print("no cycles")
