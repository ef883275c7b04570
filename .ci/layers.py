"""Checks that src/ reads one way. Prints the top-level modules in dependency order (each uses
only modules listed before it), the edges that break the layering rules below, and import
circles between the files of one module (`use super::x` / `crate::m::x` edges between
sibling files or folders). Exits 1 on any circle or broken rule.

Usage: python3 .ci/layers.py [SRC_DIR]"""
import os, re, sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "src"
# Modules that must not depend on any other module of the crate but these.
RULES = {
    "domain": set(),
    "clock": set(),
    "store": {"domain", "clock"},
}


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def heads(group):
    """The first path segment of each top-level item of a `{a::b, c::{d, e}}` group."""
    out, depth, token = set(), 0, ""
    for ch in group.strip()[1:-1] + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            head = token.strip().split("::")[0].strip()
            if head:
                out.add(head)
            token = ""
        else:
            token += ch
    return out


def refs_after(prefix_re, text):
    """Names used right after `prefix_re` (single paths, and `{...}` groups up to the `;`)."""
    names = set()
    for prefix, rest in re.findall(r"(" + prefix_re + r")(\{[^;]*\}|\w+)", text, re.S):
        names |= heads(rest) if rest.startswith("{") else {rest}
    return names


def crate_refs(text):
    """Top-level module names a file references as crate::name."""
    return refs_after(r"\bcrate::", text)


def files():
    for root, _, fs in os.walk(SRC):
        for f in fs:
            if f.endswith(".rs"):
                yield os.path.join(root, f)


def top_of(path):
    return os.path.relpath(path, SRC).split(os.sep)[0].removesuffix(".rs")


modules = {top_of(p) for p in files()} - {"main", "lib"}
edges = {m: set() for m in modules}
for p in files():
    me = top_of(p)
    if me in ("main", "lib"):
        continue
    text = strip_comments(open(p, encoding="utf-8").read())
    edges[me] |= {n for n in crate_refs(text) if n in modules and n != me}

problems = []
for m, allowed in RULES.items():
    for n in sorted(edges.get(m, ()) - allowed):
        problems.append(f"layering: {m} uses {n} (allowed: {', '.join(sorted(allowed)) or 'nothing'})")

# Topological order (Kahn); what is left over sits on a circle.
order, done = [], set()
while True:
    ready = sorted(m for m in modules - done if edges[m] <= done)
    if not ready:
        break
    order.append(ready)
    done |= set(ready)
for m in sorted(modules - done):
    problems.append(f"circle: {m} uses {', '.join(sorted(edges[m] - done))}")

# Circles between the files (or sub-folders) of one module.
def unit_of(path):
    rel = os.path.relpath(path, SRC).split(os.sep)
    return (rel[0], rel[1].removesuffix(".rs")) if len(rel) > 1 else None


inner = {}
for p in files():
    u = unit_of(p)
    if not u or u[1] == "mod":
        continue
    top, me = u
    text = strip_comments(open(p, encoding="utf-8").read())
    siblings = {n.removesuffix(".rs") for n in os.listdir(os.path.join(SRC, top))} - {"mod"}
    # `super::x` from a file directly in the module, `super::super::x` one folder down.
    depth_up = len(os.path.relpath(p, SRC).split(os.sep)) - 2
    names = refs_after(r"(?<![\w:])" + "super::" * (depth_up + 1) + r"(?!super)", text)
    names |= refs_after(r"\bcrate::" + top + "::", text)
    refs = {n for n in names if n in siblings and n != me}
    inner.setdefault(top, {}).setdefault(me, set()).update(refs)
def circles(graph):
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


for top, graph in sorted(inner.items()):
    for comp in circles(graph):
        problems.append(f"circle inside {top}: {' <-> '.join(comp)}")

print("dependency order (each uses only modules on earlier lines):")
for i, level in enumerate(order, 1):
    print(f"  {i}. " + ", ".join(f"{m} -> {{{', '.join(sorted(edges[m]))}}}" if edges[m] else m for m in level))
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
