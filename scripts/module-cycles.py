#!/usr/bin/env python3
"""Lists module cycles in a crate: `python3 scripts/module-cycles.py <crate>/src`.

A file belongs to the top-level module named by its first path part under src/ (`store/sqlite.rs`
is `store`); lib.rs and main.rs are the root and do not count. A code line (not a comment) naming
`crate::m` or `crate::{m, ..}` is an edge to module `m`. Prints each module's edges, then every
cycle (strongly connected set of two or more modules); exits 1 if there is one.
"""
import re
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
edges = {}
for f in sorted(src.rglob("*.rs")):
    parts = f.relative_to(src).parts
    if parts[0] == "bin" or (len(parts) == 1 and parts[0] in ("lib.rs", "main.rs")):
        continue
    mod = parts[0].removesuffix(".rs")
    for line in f.read_text().splitlines():
        code = line.split("//", 1)[0]
        for m in re.finditer(r"crate::(\{[^}]*\}|\w+)", code):
            names = re.findall(r"\w+", m.group(1).split("::")[0]) if m.group(1).startswith("{") else [m.group(1)]
            for target in names:
                is_module = (src / f"{target}.rs").exists() or (src / target).is_dir()
                if target != mod and is_module:
                    edges.setdefault(mod, set()).add(target)
for mod in sorted(edges):
    print(f"{mod} -> {', '.join(sorted(edges[mod]))}")
# Tarjan's strongly connected components.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        scc = []
        while True:
            w = stack.pop(); on.discard(w); scc.append(w)
            if w == v: break
        if len(scc) > 1: sccs.append(sorted(scc))
for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
    if v not in index: visit(v)
for scc in sccs:
    print("CYCLE:", " <-> ".join(scc))
print(f"{len(sccs)} cycle(s)")
sys.exit(1 if sccs else 0)
