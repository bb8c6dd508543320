"""Toolpath: the parsed moves of a G-code file as plain numpy arrays.

A move is one straight segment the nozzle follows (arcs arrive linearised). Moves are
in print order and ``layer`` never decreases, so a layer is a contiguous run of moves.
Coordinates are machine millimetres (G20 inches and G92 offsets already applied).
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: dtype of each per-move array, in the order :class:`Toolpath` stores them.
MOVE_FIELDS = {
    "start": (np.float32, 3),
    "end": (np.float32, 3),
    "e": (np.float32, 0),
    "extrude": (np.bool_, 0),
    "feed": (np.float32, 0),
    "layer": (np.int32, 0),
    "line": (np.int32, 0),
    "tool": (np.int16, 0),
    "aux": (np.bool_, 0),
}


@dataclasses.dataclass(frozen=True, eq=False)
class Toolpath:
    """Moves of a print.

    start, end : (n, 3) float32   segment end points, mm
    e          : (n,) float32     filament fed during the move, mm (negative: retraction)
    extrude    : (n,) bool        the move lays plastic (e > 0 and the nozzle moves)
    feed       : (n,) float32     feedrate, mm/min (0 until the file sets one)
    layer      : (n,) int32       layer index from geometry, non-decreasing
    line       : (n,) int32       1-based source line of the move
    tool       : (n,) int16       active tool (T command)
    aux        : (n,) bool        the slicer's feature comments mark the move as support,
                                  skirt, brim, raft or a wipe/prime tower: not the object
    layer_z    : (L,) float32     Z of each layer's first extruding move, mm
    lines      : int              source lines read
    """

    start: np.ndarray
    end: np.ndarray
    e: np.ndarray
    extrude: np.ndarray
    feed: np.ndarray
    layer: np.ndarray
    line: np.ndarray
    tool: np.ndarray
    aux: np.ndarray
    layer_z: np.ndarray
    lines: int = 0

    def __len__(self) -> int:
        return len(self.e)

    @property
    def n_layers(self) -> int:
        return len(self.layer_z)

    @property
    def filament_mm(self) -> float:
        """Filament laid by the extruding moves, mm (what slicers report as filament used)."""
        return float(self.e[self.extrude].sum(dtype=np.float64))

    def bbox(self) -> np.ndarray:
        """(2, 3) float64 min and max corner of the extruding moves; NaN if none."""
        return bbox(self.start[self.extrude], self.end[self.extrude])

    def layer_range(self, k: int) -> tuple[int, int]:
        """Half-open index range ``[i, j)`` of the moves of layer ``k``."""
        i, j = np.searchsorted(self.layer, [k, k + 1])
        return int(i), int(j)

    def object_moves(self) -> Toolpath:
        """This toolpath with only the object's own moves extruding: what the slicer marked
        as support, skirt, brim, raft or tower (``aux``) counts as travel. The detector and
        the dataset builder judge and draw the object, not its scaffolding."""
        if not self.aux.any():
            return self
        return dataclasses.replace(self, extrude=self.extrude & ~self.aux)

    def take(self, i: int, j: int | None = None) -> Toolpath:
        """Moves ``[i, j)`` (``j`` None: to the end) as a Toolpath (views, no copy)."""
        return take(self, i, len(self) if j is None else j)

    def upto_layer(self, k: int) -> Toolpath:
        """Everything printed up to and including layer ``k``."""
        return self.take(0, self.layer_range(k)[1])

    def summary(self) -> dict:
        """The ``c3po parse --json`` contract."""
        box = self.bbox()
        return {
            "lines": int(self.lines),
            "moves": len(self),
            "extrude_moves": int(self.extrude.sum()),
            "layers": self.n_layers,
            "bbox": None if np.isnan(box).any() else np.round(box, 4).tolist(),
            "filament_mm": round(self.filament_mm, 4),
        }

    def equals(self, other: Toolpath) -> bool:
        """Exact equality of every array and the line count."""
        return self.lines == other.lines and all(
            np.array_equal(getattr(self, f), getattr(other, f)) for f in [*MOVE_FIELDS, "layer_z"]
        )


def bbox(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(2, 3) float64 bounding box of segments ``start``/``end`` (n, 3); NaN if n == 0."""
    if len(start) == 0:
        return np.full((2, 3), np.nan)
    lo = np.minimum(start.min(axis=0), end.min(axis=0))
    hi = np.maximum(start.max(axis=0), end.max(axis=0))
    return np.stack([lo, hi]).astype(np.float64)


def take(tp: Toolpath, i: int, j: int) -> Toolpath:
    """Moves ``[i, j)`` of ``tp``; ``layer_z`` keeps the layers those moves touch."""
    layer = tp.layer[i:j]
    n_layers = int(layer[-1]) + 1 if len(layer) else 0
    arrays = {f: getattr(tp, f)[i:j] for f in MOVE_FIELDS}
    return Toolpath(**arrays, layer_z=tp.layer_z[:n_layers], lines=int(tp.line[j - 1]) if j > i else 0)


def empty() -> Toolpath:
    """A Toolpath with no moves."""
    arrays = {f: np.zeros((0, w) if w else 0, dtype=d) for f, (d, w) in MOVE_FIELDS.items()}
    return Toolpath(**arrays, layer_z=np.zeros(0, np.float32), lines=0)
