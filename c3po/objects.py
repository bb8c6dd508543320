"""Split a plate into objects by connected footprints.

A plate may carry several objects; a gun among them must still be found, so each is
classified on its own. Objects are the connected components of the extruding moves'
XY footprint (rasterised at ``cell`` mm, so parts closer than about one cell merge).
Components printed only on the first layers (skirt, purge line) are dropped while
real objects remain.
"""

from __future__ import annotations

import math

import numpy as np

from c3po._jit import njit
from c3po.toolpath import Toolpath


def _label(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected component labels of a boolean grid (H, W) -> int32 (H, W), count."""
    h, w = grid.shape
    idx = np.arange(h * w).reshape(h, w)

    # union along rows and columns, vectorised: repeat min-label propagation to a fixpoint
    lab = np.where(grid, idx, h * w)
    while True:
        new = lab.copy()
        new[:, 1:] = np.where(grid[:, 1:] & grid[:, :-1], np.minimum(new[:, 1:], new[:, :-1]), new[:, 1:])
        new[:, :-1] = np.where(grid[:, :-1] & grid[:, 1:], np.minimum(new[:, :-1], new[:, 1:]), new[:, :-1])
        new[1:] = np.where(grid[1:] & grid[:-1], np.minimum(new[1:], new[:-1]), new[1:])
        new[:-1] = np.where(grid[:-1] & grid[1:], np.minimum(new[:-1], new[1:]), new[:-1])
        # pointer jumping: a cell takes the label of the cell its label names
        flat = new.ravel()
        inside = flat < h * w
        flat[inside] = flat[flat[inside]]
        if np.array_equal(new, lab):
            break
        lab = new
    uniq, inv = np.unique(lab[grid], return_inverse=True)
    out = np.full((h, w), -1, np.int32)
    out[grid] = inv
    return out, len(uniq)


def split_objects(tp: Toolpath, cell: float = 2.0, min_layers: int = 3) -> list[np.ndarray]:
    """Indices of the extruding moves of each object on the plate, largest first.

    returns : list of (m_i,) int64 arrays indexing ``tp``'s moves
    """
    ext = np.flatnonzero(tp.extrude)
    if len(ext) == 0:
        return []
    x0, y0, x1, y1 = _bounds_xy(tp.start, tp.end, ext)
    x0, y0 = x0 - cell, y0 - cell  # a free border keeps every mark inside the grid
    grid = np.zeros((int((y1 - y0) / cell) + 3, int((x1 - x0) / cell) + 3), np.bool_)
    start_cell = np.zeros((len(ext), 2), np.int64)
    _mark(tp.start, tp.end, ext, x0, y0, cell, grid, start_cell)
    labels, count = _label(grid)
    if count == 1:
        return [ext]
    seg_label = labels[start_cell[:, 1], start_cell[:, 0]]  # a move lies in its start's component
    layers = tp.layer[ext]
    groups = [ext[seg_label == k] for k in range(count)]
    tall = [g for k, g in enumerate(groups) if len(np.unique(layers[seg_label == k])) >= min_layers]
    groups = tall or groups
    return sorted(groups, key=len, reverse=True)


@njit(cache=True, nogil=True)
def _mark(a, b, idx, x0, y0, cell, grid, start_cell):
    """Set the grid cells each segment a[j] -> b[j], j in idx, crosses (sampled each half cell)."""
    for i in range(len(idx)):
        j = idx[i]
        ax, ay = a[j, 0], a[j, 1]
        dx, dy = b[j, 0] - ax, b[j, 1] - ay
        n = int(math.ceil(math.sqrt(dx * dx + dy * dy) / (cell / 2))) + 1
        for k in range(n + 1):
            t = k / n
            cx = int((ax + dx * t - x0) / cell)
            cy = int((ay + dy * t - y0) / cell)
            grid[cy, cx] = True
            if k == 0:
                start_cell[i, 0] = cx
                start_cell[i, 1] = cy


@njit(cache=True, nogil=True)
def _bounds_xy(a, b, idx):
    """(xmin, ymin, xmax, ymax) over segments a[j], b[j], j in idx (float64 (4,))."""
    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    for i in range(len(idx)):
        j = idx[i]
        x0 = min(x0, a[j, 0], b[j, 0])
        y0 = min(y0, a[j, 1], b[j, 1])
        x1 = max(x1, a[j, 0], b[j, 0])
        y1 = max(y1, a[j, 1], b[j, 1])
    return np.array([x0, y0, x1, y1])
