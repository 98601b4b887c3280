"""The import graph half of scripts/house_metrics.py (also used by scripts/draw_architecture.py): the layer
rank table, strongly connected components, shortest cycles, and the imports between the top-level pieces
of the package, read with grimp. Only the stdlib and grimp.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

PACKAGE = "convolab"

# Layer rank of the second dotted component (convolab.X...): the old root modules by their name, the new
# packages (convolab.model.*, convolab.analysis.*, convolab.engine.*, convolab.train.*) by theirs.
RANKS: dict[str, int] = {
    **dict.fromkeys(("limits", "paths", "threads", "plots", "display"), 0),
    "layers": 1,
    **dict.fromkeys(("model", "spec", "spec_text", "walk", "zoo"), 2),
    **dict.fromkeys(("analysis", "analysis_table", "receptive_field", "data", "filters"), 3),
    **dict.fromkeys(("fastpath", "fastplan", "native", "engine"), 3),
    **dict.fromkeys(("train", "report", "metrics", "checkpoint", "runs", "runlog", "trainconfig"), 4),
    **dict.fromkeys(("keras_io", "lab", "widgets"), 5),
    **dict.fromkeys(("cli", "__main__"), 6),
}


def rank(module: str) -> int | None:
    """The layer rank of ``module`` (None: the package root, or a name the table lacks)."""
    parts = module.split(".")
    return RANKS.get(parts[1]) if len(parts) > 1 else None


def component(module: str) -> str:
    """``convolab.train.loop`` -> ``convolab.train``: the top-level subpackage or root module."""
    return ".".join(module.split(".")[:2])


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit); each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    out.append(sorted(members))
    return out


def shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest import cycle through ``start`` inside ``within`` (breadth-first): start, ..., start."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph.get(node, set()) & within):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in parents:
                    parents[child] = node
                    nxt.append(child)
        frontier = nxt
    return []


def import_graph(package: str = PACKAGE, type_only: bool = True) -> dict[str, set[str]]:
    """Module -> modules it imports directly, read by grimp (``type_only``: TYPE_CHECKING imports too)."""
    import grimp

    graph = grimp.build_graph(package, exclude_type_checking_imports=not type_only, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}


def cycles(graph: dict[str, set[str]]) -> list[dict[str, Any]]:
    out = []
    for members in strongly_connected(graph):
        if len(members) > 1:
            within = set(members)
            edges = sum(len(graph[m] & within) for m in members)
            out.append(
                {"modules": members, "edges": edges, "cycle": shortest_cycle(graph, members[0], within)}
            )
    return sorted(out, key=lambda c: (-len(c["modules"]), c["modules"]))


def component_edges(graph: dict[str, set[str]]) -> Counter[tuple[str, str]]:
    """(importer component, imported component) -> how many module-level imports cross between them."""
    edges: Counter[tuple[str, str]] = Counter()
    for importer, imported in graph.items():
        for target in imported:
            a, b = component(importer), component(target)
            if a != b:
                edges[a, b] += 1
    return edges


def upward_edges(graph: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Imports into a higher layer than the importer's (by :data:`RANKS`)."""
    out = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            low, high = rank(importer), rank(target)
            if low is not None and high is not None and high > low:
                out.append({"importer": importer, "imported": target, "from": low, "to": high})
    return out


def static_cycles(package: str = PACKAGE) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, type_only in (("with_type_only", True), ("without_type_only", False)):
        graph = import_graph(package, type_only)
        comp: dict[str, set[str]] = {}
        for (a, b), _ in component_edges(graph).items():
            comp.setdefault(a, set()).add(b)
            comp.setdefault(b, set())
        out[key] = {
            "modules": len(graph),
            "imports": sum(map(len, graph.values())),
            "cycles": cycles(graph),
            "component_cycles": [c["modules"] for c in cycles(comp)],
            "upward": upward_edges(graph),
        }
    return out
