#!/usr/bin/env python3
"""Reports module cycles in a crate: `crate::a::b` and `super::x` references per file.

Usage: scripts/module-cycles.py <crate>/src   (exit status 1 when a cycle is found)

Each file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`); a reference names the longest
module path it starts with. Cycles are the strongly connected components with more than one
module. Comments and string literals are not stripped, so write paths in prose without `crate::`.
"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
mods = {}
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs") or "/bin" in dirpath[len(root):]:
            continue
        rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3].split(os.sep)
        if rel[-1] in ("mod", "lib", "main"):
            rel = rel[:-1]
        mods["::".join(rel)] = os.path.join(dirpath, f)

def resolve(parts):
    for n in range(len(parts), 0, -1):
        if "::".join(parts[:n]) in mods:
            return "::".join(parts[:n])
    return None

PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")
GROUP = re.compile(r"\b(crate|super)::\{([^}]*)\}")
edges = {m: set() for m in mods}
for m, path in mods.items():
    text = open(path).read()
    here = m.split("::") if m else []
    parent = here[:-1]
    refs = [(k, p.split("::")[1:]) for k, p in PATH.findall(text)]
    for k, body in GROUP.findall(text):  # crate::{a, b::c}
        refs += [(k, x.strip().split("::")) for x in body.split(",") if x.strip()]
    for kind, parts in refs:
        target = resolve((parent if kind == "super" else []) + parts)
        if target and target != m and not m.startswith(target + "::") and target != "":
            edges[m].add(target)

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
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
sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index: visit(v)
for c in sccs:
    inner = {a: sorted(edges[a] & set(c)) for a in c}
    print("cycle:", " , ".join(f"{a} -> {'/'.join(b)}" for a, b in inner.items()))
print(f"{len(mods)} modules, {len(sccs)} cycle(s)")
sys.exit(1 if sccs else 0)
