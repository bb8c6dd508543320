"""Plates split into objects by connected footprints, all at once or as the print grows."""

import numpy as np

from c3po import parse_gcode
from c3po.objects import Footprint
from c3po.render import drawn_ranges, project
from tests.test_render import prism_gcode


def square(x0: float, y0: float, side: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]


def plate_gcode(layers: int = 6) -> bytes:
    """A skirt around two squares far apart (layer 1), then both squares layer by layer."""
    skirt = prism_gcode(square(-5, -5, 110), 1, infill=False).splitlines()[3:]  # after the G90/M83/G28 header
    a = prism_gcode(square(0, 0, 20), layers).splitlines()
    b = prism_gcode(square(70, 70, 30), layers).splitlines()[3:]
    out, ia, ib = a[:3] + skirt, 3, 0
    for k in range(layers):  # interleave: layer k of a, then layer k of b (same Z)
        ja = next((i for i in range(ia + 1, len(a)) if a[i].startswith("G1 Z")), len(a))
        jb = next((i for i in range(ib + 1, len(b)) if b[i].startswith("G1 Z")), len(b))
        out += a[ia:ja] + b[ib + 1 : jb]
        ia, ib = ja, jb
    return ("\n".join(out) + "\n").encode()


def test_skirt_is_dropped_and_objects_come_largest_first():
    tp = parse_gcode(plate_gcode())
    fp = Footprint()
    fp.add(tp, 0, len(tp))
    assert fp.labels()[1] == 3  # skirt, small square, big square
    masks, counts = fp.objects(tp, np.array([[0, len(tp)]]))
    assert len(masks) == 2 and counts[0] > counts[1] and counts.tolist() == masks.sum(1).tolist()
    big = tp.start[masks[0]]
    assert big[:, 0].min() >= 69 and big[:, 1].min() >= 69  # the 30 mm square
    assert not (masks[0] & masks[1]).any() and not (masks.any(0) & ~tp.extrude).any()
    top = project(tp, 32, select=masks[1])[0]  # the small square alone fills its own view
    assert top[8:24, 8:24].min() > 100


def test_growing_footprint_equals_one_built_at_once():
    tp = parse_gcode(plate_gcode(layers=8))
    once = Footprint()
    once.add(tp, 0, len(tp))
    grown = Footprint()
    for j in np.linspace(0, len(tp), 7).astype(int)[1:]:
        grown.add(tp, grown.n, int(j))
    ranges = drawn_ranges(tp, 4)  # a layer budget: only some layers are assigned
    for a, b in zip(once.objects(tp, ranges), grown.objects(tp, ranges)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(once.labels()[0][once.grid] >= 0, True)


def test_a_single_wall_on_a_diagonal_is_one_object():
    """One wall of a diamond (spiral vase mode, one perimeter without infill) crosses
    the grid on diagonals: its cells must join edge to edge, or the wall falls apart
    into a chain of objects that touch only at corners."""
    diamond = [(50, 10), (90, 50), (50, 90), (10, 50)]
    out = ["M83"]
    for k in range(6):
        out += [f"G1 Z{0.2 * (k + 1):.1f}", "G1 X50 Y10"] + [f"G1 X{x} Y{y} E1" for x, y in diamond[1:] + diamond[:1]]
    tp = parse_gcode(("\n".join(out) + "\n").encode())
    fp = Footprint(cell=2.0)
    fp.add(tp, 0, len(tp))
    assert fp.labels()[1] == 1
    masks, counts = fp.objects(tp, np.array([[0, len(tp)]]))
    assert counts.tolist() == [int(tp.extrude.sum())]
