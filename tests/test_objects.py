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


def _lines(z: float, pts, feature: str) -> list[str]:
    out = [f";TYPE:{feature}", f"G0 X{pts[0][0]:.2f} Y{pts[0][1]:.2f} Z{z:.2f}"]
    return out + [f"G1 X{x:.2f} Y{y:.2f} E0.05" for x, y in pts[1:]]


def test_scaffolding_is_judged_while_printing_once_all_of_it_stopped_growing():
    """``loose_scaffolding(settled_mm=...)``: a leaning tree support leaves each cell
    and grows on in the next, so none of it is judged while it grows; a support column
    standing alone that stopped growing, with no object as high around it, is."""
    from c3po.objects import loose_scaffolding

    g = ["G21", "G90", "M83"]
    for k in range(1, 101):  # 20 mm: an object's wall, a trunk leaning 45 degrees, a column to 12 mm
        z = 0.2 * k
        g += _lines(z, [(20, 20), (40, 20), (40, 40), (20, 40), (20, 20)], "WALL-OUTER")
        g += _lines(z, [(100 + z, 100), (101 + z, 100)], "SUPPORT")
        if k <= 60:
            g += _lines(z, [(150, 150), (152, 150), (152, 152)], "SUPPORT")
    tp = parse_gcode(("\n".join(g) + "\n").encode())
    trunk = tp.aux & tp.extrude & (tp.start[:, 1] < 120)
    column = tp.aux & tp.extrude & (tp.start[:, 1] > 120)
    z = tp.layer_z[tp.layer]
    done = np.searchsorted(tp.layer, 79)  # the print at 15.8 mm: the column stopped at 12 mm,
    loose = loose_scaffolding(tp.take(0, done), settled_mm=3.0)  # the trunk left its first cells at 3-8 mm
    assert loose[column[:done] & (z[:done] > 3.5)].all() and not loose[trunk[:done]].any()
    assert loose_scaffolding(tp)[trunk & (z > 3.5) & (z < 10)].all()  # finished, it holds nothing up
    growing = np.searchsorted(tp.layer, 70)  # at 14 mm: not yet 3 mm past their top
    assert not loose_scaffolding(tp.take(0, growing), settled_mm=3.0).any()
