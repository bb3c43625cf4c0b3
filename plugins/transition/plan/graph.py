"""Graph work on prerequisites: cycles, dry-run projection, topological order, ancestors.

All functions are iterative (plans of thousands of steps would overflow Python's recursion limit).
``prerequisites`` maps each step ID to the IDs it waits for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def find_cycles(prerequisites: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle path per strongly connected component that has one, e.g. ``[A, B, C, A]``.

    Self-loops are not reported here (the validator reports them as their own problem).
    """
    cycles: list[list[str]] = []
    for component in _strongly_connected(prerequisites):
        if len(component) > 1:
            cycles.append(_cycle_in(component, prerequisites))
    order = {node: i for i, node in enumerate(prerequisites)}
    cycles.sort(key=lambda path: order.get(path[0], 0))
    return cycles


def _strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child_pos = work.pop()
            if child_pos == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = [c for c in graph.get(node, ()) if c in graph]
            recursed = False
            for pos in range(child_pos, len(children)):
                child = children[pos]
                if child not in index_of:
                    work.append((node, pos + 1))
                    work.append((child, 0))
                    recursed = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index_of[child])
            if recursed:
                continue
            if low[node] == index_of[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycle_in(component: list[str], graph: Mapping[str, Sequence[str]]) -> list[str]:
    """A shortest cycle through the component's first node (in plan order), by breadth-first search."""
    members = set(component)
    order = {node: i for i, node in enumerate(graph)}
    start = min(component, key=lambda n: order.get(n, 0))
    # Walk "dependency -> dependant" so the path reads in execution order: A -> B means B waits for A.
    dependants: dict[str, list[str]] = {n: [] for n in members}
    for node in members:
        for dep in graph.get(node, ()):
            if dep in members:
                dependants[dep].append(node)
    parent: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        next_frontier: list[str] = []
        for node in frontier:
            for nxt in sorted(dependants[node], key=lambda n: order.get(n, 0)):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    path.reverse()
                    return path + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    parent[nxt] = node
                    next_frontier.append(nxt)
        frontier = next_frontier
    return [start, start]  # unreachable for a real component


def project(
    prerequisites: Mapping[str, Sequence[str]], included: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Prerequisites restricted to ``included`` steps, without losing any ordering.

    A prerequisite outside the dry run is replaced by its own nearest prerequisites inside it,
    transitively. The result keeps ``included`` order and, per step, first-seen order.
    """
    inside = set(included)
    nearest_cache: dict[str, tuple[str, ...]] = {}

    def nearest_inside(step: str) -> tuple[str, ...]:
        """Nearest included ancestors of an excluded step (iterative, memoised)."""
        if step in nearest_cache:
            return nearest_cache[step]
        pending = [step]
        while pending:
            current = pending[-1]
            if current in nearest_cache:
                pending.pop()
                continue
            missing = [
                p
                for p in prerequisites.get(current, ())
                if p not in inside and p not in nearest_cache
            ]
            if missing:
                pending.extend(missing)
                continue
            found: dict[str, None] = {}
            for p in prerequisites.get(current, ()):
                if p in inside:
                    found[p] = None
                else:
                    found.update(dict.fromkeys(nearest_cache[p]))
            nearest_cache[current] = tuple(found)
            pending.pop()
        return nearest_cache[step]

    projected: dict[str, tuple[str, ...]] = {}
    for step in included:
        upstream: dict[str, None] = {}
        for p in prerequisites.get(step, ()):
            if p in inside:
                upstream[p] = None
            else:
                upstream.update(dict.fromkeys(nearest_inside(p)))
        upstream.pop(step, None)
        projected[step] = tuple(upstream)
    return projected


def topological_order(prerequisites: Mapping[str, Sequence[str]]) -> list[str]:
    """Steps so that each comes after its prerequisites; ties keep the mapping's order (Kahn)."""
    remaining = {s: sum(1 for p in prerequisites[s] if p in prerequisites) for s in prerequisites}
    dependants: dict[str, list[str]] = {s: [] for s in prerequisites}
    for step, prereqs in prerequisites.items():
        for p in prereqs:
            if p in dependants:
                dependants[p].append(step)
    ready = [s for s, n in remaining.items() if n == 0]
    order: list[str] = []
    position = 0
    while position < len(ready):
        step = ready[position]
        position += 1
        order.append(step)
        for d in dependants[step]:
            remaining[d] -= 1
            if remaining[d] == 0:
                ready.append(d)
    if len(order) != len(prerequisites):
        raise ValueError("the prerequisites contain a cycle")
    return order


def reachable(roots: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """``roots`` and every step reached from them along ``edges`` (a cycle ends the walk)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(edges.get(current, ()))
    return seen


def ancestors(prerequisites: Mapping[str, Sequence[str]], step: str) -> set[str]:
    """Every step ``step`` waits for, directly or through others."""
    return reachable(prerequisites.get(step, ()), prerequisites)
