#!/usr/bin/env python3
"""Module graph of a crate, from its `crate::<module>` references, and the loops in it.

Issue #13 asks that no two modules of a crate import each other, directly or around a loop.
This lists, for each top-level module of each crate given (default: every workspace crate with
a `src/lib.rs` or `src/main.rs`), the modules it names through `crate::…`, then every loop
(strongly connected component), with a file and line for each edge so it can be cut.

How a reference is attributed:
- `crate::x::…` and `crate::{x, y::…}` name module `x` when `x` is a module of the crate.
- `crate::Item` where the crate root re-exports `Item` (`pub use x::Item;` or
  `pub use x::{Item, …};`) names module `x`, the item's home; any other root item names the
  root, `(root)`.
- In the crate root, `x::…` outside a `pub use` line names `x`: the root's own code depends on
  it. A root of declarations and re-exports alone (a facade) has no edges.
- `src/bin/*` are crates of their own and are skipped; comments are ignored.

Usage: scripts/module-graph.py [--depth N] [CRATE_DIR ...]
  --depth N  attribute references to modules N levels deep (`writeback::store` at 2); default 1.
Exit status: 0 without loops, 1 with one or more.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    """Blanks out // and /* */ comments (keeping line numbers) and string literal contents."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            # A plain string literal (raw strings with # are rare in module paths; a
            # `crate::` inside one would at worst add an edge to check by hand).
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and i + 2 < n and (text[i + 2] == "'" or text[i + 1] == "\\"):
            # A char literal such as '"' or '\n' (not a lifetime).
            j = text.find("'", i + 2 if text[i + 1] == "\\" else i + 1)
            j = n if j < 0 else j
            out.append("' '")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(rel, depth):
    """`writeback/store.rs` -> `writeback::store` cut to `depth` parts; `lib.rs` -> `(root)`."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return "(root)"
    return "::".join(parts[:depth])


def group_paths(body):
    """The paths inside a `{…}` use group, nested groups flattened (`a::{b, c}` -> a::b, a::c)."""
    paths, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            paths.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        paths.append(cur.strip())
    return paths


def crate_graph(crate_dir, depth):
    src = os.path.join(crate_dir, "src")
    root_file = next(
        (f for f in ("lib.rs", "main.rs") if os.path.exists(os.path.join(src, f))), None
    )
    if root_file is None:
        return None
    files = {}
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        if rel_dir == "bin" or rel_dir.startswith("bin" + os.sep):
            continue
        for f in filenames:
            if f.endswith(".rs"):
                rel = os.path.normpath(os.path.join(rel_dir, f))
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    files[rel] = strip_comments(fh.read())
    modules = {module_of(rel, depth) for rel in files} - {"(root)"}
    top = {m.split("::")[0] for m in modules}

    # What the root re-exports, and from where.
    reexports = {}
    root_text = files[root_file]
    for m in re.finditer(r"pub\s+use\s+([^;]+);", root_text):
        path = re.sub(r"\s+", "", m.group(1))
        head, _, rest = path.partition("::")
        if head not in top:
            continue
        home = resolve(head, rest, modules, depth)
        if "{" in rest:
            inner = rest[rest.index("{") + 1 : rest.rindex("}")]
            names = [p.split("::")[-1] for p in group_paths(inner)]
        else:
            names = [rest.split("::")[-1]]
        for name in names:
            name = name.split(" as ")[-1]
            reexports[name] = home

    edges = defaultdict(list)  # (from, to) -> [file:line]

    def add(frm, to, rel, text, pos):
        if to != frm and not (to.startswith(frm + "::") or frm.startswith(to + "::")):
            line = text.count("\n", 0, pos) + 1
            edges[(frm, to)].append(f"{rel}:{line}")

    for rel, text in sorted(files.items()):
        frm = module_of(rel, depth)
        for m in re.finditer(r"\bcrate::(\{|" + IDENT + r")", text):
            if m.group(1) == "{":
                end = matching_brace(text, m.end(1) - 1)
                paths = group_paths(text[m.end(1) : end])
            else:
                rest = re.match(r"(?:::(?:" + IDENT + r"|\{))*", text[m.end(1) :]).group(0)
                paths = [m.group(1) + rest]
            for p in paths:
                p = re.sub(r"\s+", "", p)
                head, _, rest = p.partition("::")
                if head in ("self", ""):
                    continue
                if head in top:
                    to = resolve(head, rest, modules, depth)
                else:
                    to = reexports.get(head, "(root)")
                add(frm, to, rel, text, m.start())
        if frm == "(root)":
            for m in re.finditer(r"(?<![:\w])(" + IDENT + r")::", text):
                if m.group(1) not in top:
                    continue
                line_start = text.rfind("\n", 0, m.start()) + 1
                line = text[line_start : text.find("\n", m.start())]
                if re.match(r"\s*(pub(\([^)]*\))?\s+)?use\b", line) and "pub" in line.split("use")[0]:
                    continue
                rest = re.match(r"(?:::" + IDENT + r")*", text[m.end(1) :]).group(0)
                add(frm, resolve(m.group(1), rest.lstrip(":"), modules, depth), rel, text, m.start())
    return sorted(modules | {"(root)"}), edges


def resolve(head, rest, modules, depth):
    """The deepest module (at most `depth` parts) that the path `head::rest` goes through."""
    parts = [head] + [p for p in re.split(r"::", rest) if re.fullmatch(IDENT, p)]
    best = head
    for k in range(1, min(depth, len(parts)) + 1):
        cand = "::".join(parts[:k])
        if cand in modules:
            best = cand
    return best


def matching_brace(text, open_pos):
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def cycles(nodes, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
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

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main(argv):
    depth = 1
    if argv[:1] == ["--depth"]:
        depth, argv = int(argv[1]), argv[2:]
    crates = argv or sorted(
        d for d in os.listdir(".") if os.path.isdir(os.path.join(d, "src"))
    )
    found = False
    for crate in crates:
        g = crate_graph(crate, depth)
        if g is None:
            continue
        nodes, edges = g
        print(f"== {crate}")
        for n in nodes:
            outs = sorted({b for (a, b) in edges if a == n})
            print(f"  {n} -> {', '.join(outs) if outs else '-'}")
        for comp in cycles(nodes, edges):
            found = True
            print(f"  LOOP: {' <-> '.join(comp)}")
            for (a, b), where in sorted(edges.items()):
                if a in comp and b in comp:
                    print(f"    {a} -> {b}: {', '.join(where[:4])}{' …' if len(where) > 4 else ''}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
