"""Split a plate into objects by connected footprints.

A plate may carry several objects; a gun among them must still be found, so each is
classified on its own. Objects are the connected components of the extruding moves'
XY footprint (rasterised at ``cell`` mm, so parts closer than about one cell merge).
Components printed only on the first layers (skirt, purge line) are dropped while
real objects remain.

A :class:`Footprint` grows with the print: ``add`` marks only the new moves, so a
streaming detector that looks at the plate again and again pays for each move once.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from c3po._jit import njit
from c3po.toolpath import Toolpath


class Footprint:
    """The XY footprint of a print so far, and the grid cell each move starts in.

    ``add(tp, i, j)`` marks moves ``[i, j)`` of a toolpath whose moves ``[0, i)`` were
    added before; ``objects(tp, ranges)`` gives each object's moves.
    """

    def __init__(self, cell: float = 2.0, min_layers: int = 3):
        self.cell, self.min_layers = float(cell), min_layers
        self.grid = np.zeros((0, 0), np.bool_)
        self.bottom = np.zeros((0, 0), np.int32)  # lowest and highest layer marked in each cell
        self.top = np.zeros((0, 0), np.int32)
        self.origin = np.zeros(2, np.int64)  # absolute cell of grid[0, 0] (x, y)
        self.start_cell = np.zeros((0, 2), np.int64)  # absolute (x, y) cell of each move's start
        self.n = 0
        self._labels: tuple[np.ndarray, int] | None = None

    def add(self, tp: Toolpath, i: int, j: int) -> None:
        if i != self.n:
            raise ValueError(f"moves must be added in order: expected move {self.n}, got {i}")
        if j <= i:
            return
        box = _bounds_xy(tp.start, tp.end, tp.extrude, i, j)
        if box[0] <= box[2]:
            self._cover(*(int(math.floor(v / self.cell)) for v in box))
        if len(self.start_cell) < j:
            grown = np.zeros((max(j, 2 * len(self.start_cell)), 2), np.int64)
            grown[: self.n] = self.start_cell[: self.n]
            self.start_cell = grown
        _mark(tp.start, tp.end, tp.extrude, tp.layer, i, j, self.cell, self.origin, self.grid, self.bottom, self.top,
              self.start_cell)
        self.n = j
        self._labels = None

    def _cover(self, x0: int, y0: int, x1: int, y1: int) -> None:
        """Grow the grids (with room to spare) so cells x0..x1, y0..y1 lie inside them."""
        h, w = self.grid.shape
        ox, oy = self.origin
        if h and ox <= x0 and oy <= y0 and x1 < ox + w and y1 < oy + h:
            return
        if h:
            x0, y0, x1, y1 = min(x0, ox), min(y0, oy), max(x1, ox + w - 1), max(y1, oy + h - 1)
        pad = 8
        shape = (y1 - y0 + 1 + 2 * pad, x1 - x0 + 1 + 2 * pad)
        nx, ny = x0 - pad, y0 - pad
        grids = []
        for old, fill in ((self.grid, False), (self.bottom, np.iinfo(np.int32).max), (self.top, -1)):
            new = np.full(shape, fill, old.dtype)
            if h:
                new[oy - ny : oy - ny + h, ox - nx : ox - nx + w] = old
            grids.append(new)
        self.grid, self.bottom, self.top = grids
        self.origin = np.array([nx, ny], np.int64)

    def labels(self) -> tuple[np.ndarray, int]:
        """4-connected component labels of the grid (int32, -1 empty) and their count."""
        if self._labels is None:
            lab = np.full(self.grid.shape, -1, np.int32)
            self._labels = lab, _label(self.grid, lab)
        return self._labels

    def component_top(self) -> np.ndarray:
        """(count,) the highest layer marked in each component of :meth:`labels`."""
        lab, count = self.labels()
        inside = lab >= 0
        high = np.full(count, -1, np.int64)
        np.maximum.at(high, lab[inside], self.top[inside])
        return high

    def objects(self, tp: Toolpath, ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each object's extruding moves within ``ranges`` (move index ranges of ``tp``,
        whose moves were all added), largest first: (P, len(tp)) bool masks, (P,) counts.

        A move belongs to the component of its start cell. Components spanning fewer than
        ``min_layers`` layers (skirt, purge line) are dropped while a taller one remains.
        """
        lab, count = self.labels()
        inside = lab >= 0
        high = self.component_top()
        low = np.full(count, np.iinfo(np.int32).max, np.int64)
        np.minimum.at(low, lab[inside], self.bottom[inside])
        tall = high - low + 1 >= self.min_layers
        if not tall.any():
            tall[:] = True
        slot = np.where(tall, np.cumsum(tall) - 1, -1)
        masks = np.zeros((int(tall.sum()), len(tp)), np.bool_)
        counts = np.zeros(len(masks), np.int64)
        _assign(tp.extrude, self.start_cell, self.origin, lab, slot, ranges, masks, counts)
        order = [k for k in np.argsort(-counts, kind="stable") if counts[k]]
        return masks[order], counts[order]


@njit(cache=True, nogil=True)
def _label(grid, lab):
    """Label 4-connected components of ``grid`` (H, W) bool into ``lab`` (-1 filled);
    returns the count. Flood fill with an explicit stack."""
    h, w = grid.shape
    stack = np.empty(h * w, np.int64)
    count = 0
    for y in range(h):
        for x in range(w):
            if not grid[y, x] or lab[y, x] >= 0:
                continue
            lab[y, x] = count
            stack[0] = y * w + x
            top = 1
            while top > 0:
                top -= 1
                cy, cx = divmod(stack[top], w)
                for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < h and 0 <= nx < w and grid[ny, nx] and lab[ny, nx] < 0:
                        lab[ny, nx] = count
                        stack[top] = ny * w + nx
                        top += 1
            count += 1
    return count


@njit(cache=True, nogil=True)
def _mark(a, b, extrude, layer, i0, i1, cell, origin, grid, bottom, top, start_cell):
    """Set the grid cells each extruding segment a[j] -> b[j], i0 <= j < i1, passes
    through, widen their layer span, and record the absolute cell of every move's start.

    The cells are walked edge to edge (Amanatides and Woo's traversal), so a segment's
    cells are 4-connected: a single wall drawn on a diagonal (spiral vase mode, one
    perimeter without infill) stays one object, where sampling points along it steps
    from cell to cell through corners."""
    ox, oy = origin[0], origin[1]
    inv = 1.0 / cell
    for j in range(i0, i1):
        ax, ay = a[j, 0] * inv, a[j, 1] * inv  # in cells
        cx, cy = int(math.floor(ax)), int(math.floor(ay))
        start_cell[j, 0] = cx
        start_cell[j, 1] = cy
        if not extrude[j]:
            continue
        bx, by = b[j, 0] * inv, b[j, 1] * inv
        dx, dy = bx - ax, by - ay
        sx = 1 if dx > 0.0 else -1
        sy = 1 if dy > 0.0 else -1
        # parameter t (0..1 along the segment) of the next vertical / horizontal cell edge
        tx = ((cx + (sx > 0)) - ax) / dx if dx != 0.0 else np.inf
        ty = ((cy + (sy > 0)) - ay) / dy if dy != 0.0 else np.inf
        ddx = abs(1.0 / dx) if dx != 0.0 else np.inf
        ddy = abs(1.0 / dy) if dy != 0.0 else np.inf
        steps = abs(int(math.floor(bx)) - cx) + abs(int(math.floor(by)) - cy)
        lay = layer[j]
        for k in range(steps + 1):
            if k:
                if tx < ty:
                    cx += sx
                    tx += ddx
                else:
                    cy += sy
                    ty += ddy
            gy, gx = cy - oy, cx - ox
            grid[gy, gx] = True
            bottom[gy, gx] = min(bottom[gy, gx], lay)
            top[gy, gx] = max(top[gy, gx], lay)


@njit(cache=True, nogil=True)
def _assign(extrude, start_cell, origin, lab, slot, ranges, masks, counts):
    """masks[slot[c], j] = True for each extruding move j in ``ranges`` whose start cell
    has component c (slot -1: dropped); counts per slot."""
    for r in range(ranges.shape[0]):
        for j in range(ranges[r, 0], ranges[r, 1]):
            if extrude[j]:
                s = slot[lab[start_cell[j, 1] - origin[1], start_cell[j, 0] - origin[0]]]
                if s >= 0:
                    masks[s, j] = True
                    counts[s] += 1


@njit(cache=True, nogil=True)
def _bounds_xy(a, b, extrude, i0, i1):
    """(xmin, ymin, xmax, ymax) over extruding segments i0 <= j < i1 (float64 (4,))."""
    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    for j in range(i0, i1):
        if not extrude[j]:
            continue
        x0 = min(x0, a[j, 0], b[j, 0])
        y0 = min(y0, a[j, 1], b[j, 1])
        x1 = max(x1, a[j, 0], b[j, 0])
        y1 = max(y1, a[j, 1], b[j, 1])
    return np.array([x0, y0, x1, y1])


#: scaffolding this low (mm above the first layer) is trusted wherever it lies: brims,
#: skirts and rafts spread beyond the object under its first layers (a raft of up to 10
#: layers of 0.2 mm). In the suite's 478 PrusaSlicer and CuraEngine prints with skirts,
#: brims, rafts, supports, plates, vase mode and tuned profiles, no scaffolding that holds
#: nothing up (at any floor) reaches higher than a CuraEngine raft's margin, 0.35 mm. At
#: 3 mm (until session 33) a gun cut from a 3 mm plate and marked as support was never
#: judged; one thinner than about 3 mm still is not
SCAFFOLD_FLOOR_MM = 2.0


def loose_scaffolding(tp: Toolpath, cell: float = 2.0, floor_mm: float = SCAFFOLD_FLOOR_MM, near: int = 3,
                      above_mm: float = 2.0, settled_mm: float | None = None) -> np.ndarray:
    """(n,) bool: extruding moves the slicer's comments call scaffolding (``aux``) that
    hold nothing up, judged over the whole print (``settled_mm`` None) or over the
    print so far.

    Supports stand under the object: in the cells around a support's highest move the
    object goes on at least as high. A move marked as support (or skirt, brim, raft,
    tower) above ``floor_mm`` whose cell has no object move as high within ``near``
    cells (PrusaSlicer's supports reach up to two cells past the part they hold) is
    not scaffolding of this object: a shape relabelled as support to hide it, a wipe
    tower or a draft shield. :meth:`c3po.detect.Detector.scan` judges such moves as the
    object's.

    While printing, a support's overhang is still to come: with ``settled_mm``, only
    scaffolding whose footprint component (its cells joined side by side) stopped growing
    at least that far below the last layer is judged (:class:`c3po.detect.StreamDetector`).
    The overhang a support holds is printed a layer or two above its top, so by then it is
    there to be seen; a tree support's trunk leans from cell to cell, so a cell it left
    waits for the whole tree.
    """
    loose = np.zeros(len(tp), np.bool_)
    ext = tp.extrude
    if not (tp.aux & ext).any():
        return loose
    z = tp.layer_z[tp.layer] - tp.layer_z[0]
    high = tp.aux & ext & (z > floor_mm)
    if not high.any():
        return loose
    held, obj = Footprint(cell), Footprint(cell)
    held.add(dataclasses.replace(tp, extrude=high), 0, len(tp))
    obj.add(dataclasses.replace(tp, extrude=ext & ~tp.aux), 0, len(tp))
    # the object's highest layer around each scaffolding cell (-1: no object there)
    reach = np.full(held.top.shape, -1, np.int64)
    if obj.grid.any():
        top = np.pad(obj.top, near, constant_values=-1)
        h, w = obj.top.shape
        around = np.max([top[near + dy : near + dy + h, near + dx : near + dx + w]
                         for dy in range(-near, near + 1) for dx in range(-near, near + 1)], axis=0)
        ys, xs = np.nonzero(held.grid)
        oy, ox = ys + held.origin[1] - obj.origin[1], xs + held.origin[0] - obj.origin[0]
        inside = (oy >= 0) & (ox >= 0) & (oy < h) & (ox < w)
        reach[ys[inside], xs[inside]] = around[oy[inside], ox[inside]]
    zs = np.append(tp.layer_z, -np.inf)  # layer -1 (no object near): lowest of all
    dangling = held.grid & (zs[held.top] > zs[reach] + above_mm)
    if settled_mm is not None:
        # judged once all the scaffolding joined to it stopped growing: a leaning tree
        # support leaves a cell and grows on in the next (empty cells, label -1, are not
        # in ``dangling`` whatever they index)
        top = held.component_top()[held.labels()[0]]
        dangling &= zs[top] <= tp.layer_z[tp.layer[-1]] - settled_mm
    idx = np.flatnonzero(high)
    cells = held.start_cell[idx] - held.origin
    loose[idx] = dangling[cells[:, 1], cells[:, 0]]
    return loose
