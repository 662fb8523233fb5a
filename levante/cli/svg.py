"""A task graph drawn as SVG in pure Python, for ``--format svg`` where Graphviz is not installed.

The layout is layered, top to bottom (after Sugiyama, as Graphviz's ``dot`` does, much simplified):

1. each task's rank is the longest path to it from the start tasks; edges that close a cycle (a
   loop back on ``on-error``...) are left out of the ranking, and drawn going back up;
2. an edge that spans several ranks gets a waypoint in each rank it crosses, so that it is routed
   around the tasks in between rather than through them;
3. the tasks and waypoints of each rank are ordered by the mean place of what leads to them (a few
   sweeps, which uncross most edges), and every rank is centred;
4. edges going down are curves through their waypoints; edges going back up curve out on the
   right, edges within a rank are straight. Each has an arrow marker in its own colour.

The document has one ``<g class="node">`` per task (a rounded ``<rect>`` filled with the task's
colour, and one ``<text>``: the name, then the state when there is one) and one ``<g
class="edge">`` per edge (a ``<path>``, and a ``<text>`` for a guard); all text is XML-escaped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

#: Layout sizes in pixels; text is 13 px sans-serif (about 7.5 px a character), labels 11 px.
CHAR_WIDTH, LABEL_CHAR_WIDTH, BOX_HEIGHT, STATE_HEIGHT = 7.5, 6.5, 32, 16
GAP_X, GAP_Y, MARGIN, WAYPOINT_WIDTH, MIN_BOX_WIDTH = 28, 56, 20, 8.0, 64.0
#: How far an edge going back up bulges out to the right of its boxes.
BACK_OFFSET = 36


@dataclass(frozen=True)
class Edge:
    """One arrow: ``src`` -> ``dst`` in ``colour``; ``label``: a guard written beside it."""

    src: str
    dst: str
    colour: str
    dashed: bool = False
    label: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Box:
    """Where a task (or an edge's waypoint) is drawn."""

    x: float
    y: float
    width: float
    height: float
    rank: int

    @property
    def centre(self) -> float:
        return self.x + self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width


def _depths(count: int, succ: list[list[int]]) -> list[int]:
    """Each task's distance from the start tasks (those nothing leads to), breadth first; a task
    they do not reach counts from itself."""
    inbound = {dst for src in range(count) for dst in succ[src] if dst != src}
    depth = [-1] * count
    for root in [*(n for n in range(count) if n not in inbound), *range(count)]:
        if depth[root] >= 0:
            continue
        depth[root] = 0
        queue = deque([root])
        while queue:
            node = queue.popleft()
            for child in succ[node]:
                if depth[child] < 0:
                    depth[child] = depth[node] + 1
                    queue.append(child)
    return depth


def _reaches(succ: list[list[int]], src: int, dst: int) -> bool:
    seen, stack = {src}, [src]
    while stack:
        for child in succ[stack.pop()]:
            if child == dst:
                return True
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return False


def ranks(count: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """The rank of each of ``count`` tasks: the longest path to it from a start task. An edge that
    closes a cycle is left out: one that goes no further from the start than where it leaves
    (a loop back on ``on-error``), which removes every cycle since the others all go further."""
    succ: list[list[int]] = [[] for _ in range(count)]
    for src, dst in edges:
        if dst not in succ[src]:
            succ[src].append(dst)
    depth = _depths(count, succ)
    kept: list[list[int]] = [[dst for dst in succ[src] if dst != src and (
        depth[dst] > depth[src] or not _reaches(succ, dst, src))] for src in range(count)]
    waiting = [0] * count
    for children in kept:
        for child in children:
            waiting[child] += 1
    ready = deque(n for n in range(count) if not waiting[n])
    rank = [0] * count
    while ready:
        node = ready.popleft()
        for child in kept[node]:
            rank[child] = max(rank[child], rank[node] + 1)
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return rank


def waypoints(edges: Sequence[tuple[int, int]], rank: list[int]) -> list[list[int]]:
    """Each edge as the chain of nodes it passes: a new waypoint node (numbered after the tasks,
    its rank appended to ``rank``) for each rank a downward edge crosses."""
    chains = []
    for src, dst in edges:
        chain = [src]
        for level in range(rank[src] + 1, rank[dst]):
            rank.append(level)
            chain.append(len(rank) - 1)
        chains.append([*chain, dst])
    return chains


def rows(rank: list[int], links: Sequence[tuple[int, int]]) -> list[list[int]]:
    """The nodes of each rank, left to right: by the mean place of the nodes above that lead to
    them, the previous order breaking ties."""
    layers: list[list[int]] = [[] for _ in range(max(rank, default=-1) + 1)]
    for node, level in enumerate(rank):
        layers[level].append(node)
    parents: list[list[int]] = [[] for _ in rank]
    for src, dst in links:
        if rank[src] < rank[dst]:
            parents[dst].append(src)
    for _ in range(4):
        place = {n: (i + 0.5) / len(layer) for layer in layers for i, n in enumerate(layer)}
        for layer in layers[1:]:
            layer.sort(key=lambda n: sum(place[p] for p in parents[n]) / len(parents[n])
                       if parents[n] else place[n])
            place.update({n: (i + 0.5) / len(layer) for i, n in enumerate(layer)})
    return layers


def place(layers: list[list[int]], widths: list[float], height: float) -> tuple[list[Box], float]:
    """Every node's box (each rank centred), and the width of the widest rank."""
    row_widths = [sum(widths[n] for n in layer) + GAP_X * (len(layer) - 1) for layer in layers]
    total = max(row_widths, default=0.0)
    boxes: dict[int, Box] = {}
    for level, (layer, row_width) in enumerate(zip(layers, row_widths, strict=True)):
        x = MARGIN + (total - row_width) / 2
        for node in layer:
            boxes[node] = Box(x, MARGIN + level * (height + GAP_Y), widths[node], height, level)
            x += widths[node] + GAP_X
    return [boxes[n] for n in range(len(widths))], total


def _down(chain: list[Box]) -> tuple[str, float, float]:
    """A path down through waypoints: a curve from each bottom to the next top, a straight line
    through each waypoint. Returns it and where its first curve is halfway."""
    bend = GAP_Y / 2
    x, y = chain[0].centre, chain[0].y + chain[0].height
    d = [f"M{x:.1f},{y:.1f}"]
    for box in chain[1:]:
        d.append(f"C{x:.1f},{y + bend:.1f} {box.centre:.1f},{box.y - bend:.1f} {box.centre:.1f},{box.y:.1f}")
        x, y = box.centre, box.y + box.height
        if box is not chain[-1]:
            d.append(f"L{x:.1f},{y:.1f}")
    first = chain[1]
    side = -6 if first.centre < chain[0].centre else 6  # the label goes outside the bend
    return " ".join(d), (chain[0].centre + first.centre) / 2 + side, (chain[0].y + chain[0].height + first.y) / 2


def _path(chain: list[Box]) -> tuple[str, float, float]:
    """The ``d`` of an edge's path, and the point its label starts at."""
    a, b = chain[0], chain[-1]
    if a is b:  # a task going back to itself: a loop on its right
        x, y, out = a.right, a.y + a.height / 2, a.right + GAP_X * 0.75
        return f"M{x:.1f},{y - 8:.1f} C{out:.1f},{y - 22:.1f} {out:.1f},{y + 22:.1f} {x:.1f},{y + 8:.1f}", out, y
    if b.rank > a.rank:
        return _down(chain)
    if b.rank == a.rank:
        x1, x2 = (a.right, b.x) if b.x > a.x else (a.x, b.right)
        y = a.y + a.height / 2
        return f"M{x1:.1f},{y:.1f} L{x2:.1f},{y:.1f}", (x1 + x2) / 2, y - 4
    x1, y1, x2, y2 = a.right, a.y + a.height / 2, b.right, b.y + b.height / 2
    bulge = max(x1, x2) + BACK_OFFSET
    return (f"M{x1:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} {x2:.1f},{y2:.1f}",
            bulge - BACK_OFFSET / 4 + 6, (y1 + y2) / 2)


def _marker(colour: str) -> str:
    return (f'<marker id={quoteattr("arrow-" + colour)} viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill={quoteattr(colour)}/></marker>')


def _edge(edge: Edge, chain: list[Box]) -> tuple[str, float, float]:
    """An edge's ``<g>``, and how far left and right its label reaches."""
    d, lx, ly = _path(chain)
    dash = ' stroke-dasharray="5,4"' if edge.dashed else ""
    parts = [f'<g class="edge"><title>{escape(f"{edge.src} -> {edge.dst} {edge.kind}".strip())}</title>',
             f'<path d="{d}" fill="none" stroke={quoteattr(edge.colour)} stroke-width="1.5"{dash} '
             f'marker-end={quoteattr(f"url(#arrow-{edge.colour})")}/>']
    left = right = lx
    if edge.label:
        anchor = "end" if lx < chain[0].centre else "start"
        span = LABEL_CHAR_WIDTH * len(edge.label)
        left, right = (lx - span, lx) if anchor == "end" else (lx, lx + span)
        parts.append(f'<text class="label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" font-size="11" '
                     f'fill={quoteattr(edge.colour)}>{escape(edge.label)}</text>')
    return "".join(parts) + "</g>", left, right


def _node(name: str, box: Box, fill: str, state: str | None) -> str:
    text_y = box.y + (BOX_HEIGHT if state else box.height) / 2 + 4.5
    label = f'<tspan x="{box.centre:.1f}" y="{text_y:.1f}">{escape(name)}</tspan>'
    if state:
        label += (f'<tspan class="state" x="{box.centre:.1f}" dy="{STATE_HEIGHT}" font-size="11" '
                  f'fill="#444444">{escape(state)}</tspan>')
    return (f'<g class="node"><title>{escape(f"{name}: {state}" if state else name)}</title>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" '
            f'rx="6" ry="6" fill={quoteattr(fill)} stroke="#333333"/>'
            f'<text text-anchor="middle">{label}</text></g>')


def render(title: str, names: Sequence[str], edges: Sequence[Edge], fills: dict[str, str],
           states: dict[str, str] | None = None) -> str:
    """The SVG document of a graph of tasks ``names``: ``fills`` gives each task's colour (white
    when absent), ``states`` the state written under its name."""
    states = {n: s for n, s in (states or {}).items() if n in names}
    index = {name: i for i, name in enumerate(names)}
    known = [e for e in edges if e.src in index and e.dst in index]
    pairs = [(index[e.src], index[e.dst]) for e in known]
    rank = ranks(len(names), pairs)
    chains = waypoints(pairs, rank)
    layers = rows(rank, [(c[i], c[i + 1]) for c in chains for i in range(len(c) - 1)])
    widths = [max(MIN_BOX_WIDTH, CHAR_WIDTH * max(len(n), len(states.get(n, ""))) + 24) for n in names]
    boxes, content_width = place(layers, widths + [WAYPOINT_WIDTH] * (len(rank) - len(names)),
                                 BOX_HEIGHT + (STATE_HEIGHT if states else 0))
    drawn = [_edge(e, [boxes[n] for n in chain]) for e, chain in zip(known, chains, strict=True)]
    goes_back = any(rank[dst] <= rank[src] for src, dst in pairs)
    left = min([0.0, *(lo - 4 for _, lo, _ in drawn)])
    right = max([content_width + 2 * MARGIN + (BACK_OFFSET + 8 if goes_back else 0), *(hi + 4 for *_, hi in drawn)])
    width, height = right - left, max((b.y + b.height for b in boxes), default=0.0) + MARGIN
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="{left:.0f} 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="13">',
           f"<title>{escape(title)}</title>",
           f"<defs>{''.join(_marker(c) for c in sorted({e.colour for e in known}))}</defs>",
           f'<rect x="{left:.0f}" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
           *(svg for svg, _, _ in drawn),
           *(_node(n, boxes[i], fills.get(n, "#ffffff"), states.get(n)) for i, n in enumerate(names)),
           "</svg>"]
    return "\n".join(out) + "\n"
