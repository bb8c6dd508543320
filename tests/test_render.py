"""Renderer: projections and camera frames of known toolpaths give known pixels."""

import dataclasses
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from c3po import StreamParser, parse_gcode
from c3po.render import (Camera, CameraRenderer, camera_frames, drawn_layers, drawn_ranges, extrusion_width, project,
                         project_views)
from tests.conftest import ROOT, real_file


def prism_gcode(outline, layers: int, height: float = 0.2, spacing: float = 0.4, width: float = 0.4,
                infill: bool = True, z0: float = 0.0) -> str:
    """G-code of a prism: per layer the outline, then X-raster infill of its bounding box.

    The infill fills the outline's axis-aligned bounding box: use it for axis-aligned
    rectangles only.
    """
    e_per_mm = width * height / (math.pi * 1.75**2 / 4)
    xs, ys = zip(*outline)
    out = ["G90", "M83", "G28"]
    for k in range(layers):
        z = z0 + height * (k + 1)
        out.append(f"G1 Z{z:.3f} F600")
        out.append(f"G0 X{outline[0][0]:.3f} Y{outline[0][1]:.3f}")
        for (x0, y0), (x1, y1) in zip(outline, outline[1:] + outline[:1]):
            out.append(f"G1 X{x1:.3f} Y{y1:.3f} E{math.hypot(x1 - x0, y1 - y0) * e_per_mm:.5f}")
        y, flip = min(ys) + spacing, False
        while infill and y < max(ys) - spacing / 2:
            a, b = (max(xs), min(xs)) if flip else (min(xs), max(xs))
            out += [f"G0 X{a:.3f} Y{y:.3f}", f"G1 X{b:.3f} Y{y:.3f} E{abs(b - a) * e_per_mm:.5f}"]
            y, flip = y + spacing, not flip
    return "\n".join(out) + "\n"


SQUARE = [(90.0, 90.0), (110.0, 90.0), (110.0, 110.0), (90.0, 110.0)]


@pytest.fixture(scope="module")
def square():
    return parse_gcode(prism_gcode(SQUARE, layers=5).encode())  # 20 x 20 x 1 mm


def test_square_fills_the_expected_square_in_the_top_view(square):
    top, front, side = project(square, 64, margin=0.1)
    # 20 mm span -> 64 * 0.8 = 51.2 px, centred: columns/rows 6.4 .. 57.6
    inside = top[8:56, 8:56]
    assert inside.min() > 100, "the filled square must be solid grey"
    assert top[:5].max() == 0 and top[-5:].max() == 0 and top[:, :5].max() == 0 and top[:, -5:].max() == 0
    rows = np.flatnonzero(top.max(1) > 0)
    cols = np.flatnonzero(top.max(0) > 0)
    assert rows[0] in (5, 6) and rows[-1] in (57, 58) and cols[0] in (5, 6) and cols[-1] in (57, 58)
    assert 0 < top[rows[0]].max() < 255 or 0 < top[:, cols[0]].max() < 255  # anti-aliased edge


def test_square_is_a_line_in_the_front_and_side_views(square):
    _, front, side = project(square, 64)
    for view in (front, side):
        rows = np.flatnonzero(view.max(1) > 0)
        # 0.8 mm of layers at 51.2 px / 20 mm = 2 px tall, centred on row 32
        assert len(rows) <= 5 and 29 <= rows[0] and rows[-1] <= 34
        cols = np.flatnonzero(view[rows].max(0) > 60)
        assert cols[0] <= 7 and cols[-1] >= 56
    assert np.abs(front.astype(int) - side).max() <= 4  # symmetric but for the infill direction


def test_level_segments_draw_as_the_same_segments_turned_upright(square):
    """Segments level in a view take a shortcut (no sqrt, one row of splats); swapping
    world X and Y makes the square's X-raster infill upright (the general path) and must
    give the top view mirrored about its anti-diagonal, pixel for pixel."""
    swapped = dataclasses.replace(square, start=np.ascontiguousarray(square.start[:, [1, 0, 2]]),
                                  end=np.ascontiguousarray(square.end[:, [1, 0, 2]]))
    for size in (28, 64):
        top = project(square, size, views=("top",))[0]
        turned = project(swapped, size, views=("top",))[0]
        assert not np.array_equal(top, turned)  # the infill runs the other way
        np.testing.assert_array_equal(turned, top[::-1, ::-1].T)


def test_aspect_ratio_is_kept_and_view_is_centred():
    rect = [(0.0, 0.0), (40.0, 0.0), (40.0, 10.0), (0.0, 10.0)]
    top = project(parse_gcode(prism_gcode(rect, layers=2).encode()), 64, margin=0.1)[0]
    rows = np.flatnonzero(top.max(1) > 0)
    cols = np.flatnonzero(top.max(0) > 0)
    # 40 mm -> 51.2 px, so 10 mm -> 12.8 px, centred vertically
    assert 49 <= cols[-1] - cols[0] + 1 <= 54
    assert 12 <= rows[-1] - rows[0] + 1 <= 16
    assert abs((rows[0] + rows[-1]) / 2 - 31.5) <= 1
    assert top[rows[0] - 1].max() == 0


@pytest.mark.parametrize("size", [28, 64, 128])
def test_any_size_and_dtype(square, size):
    views = project(square, size)
    assert views.shape == (3, size, size) and views.dtype == np.uint8
    assert views.max() > 150


def test_silhouette_view_is_the_largest_box():
    def walls(w, h, layers):
        return parse_gcode(prism_gcode([(0, 0), (w, 0), (w, h), (0, h)], layers, infill=False).encode())

    flat, edge, side = walls(40, 20, 3), walls(40, 2, 100), walls(2, 40, 100)  # 0.6 mm or 20 mm tall
    assert [project_views(tp, 28, views=("silhouette",))[1] for tp in (flat, edge, side)] == [["top"], ["front"],
                                                                                           ["side"]]
    images, names = project_views(edge, 28, views=("silhouette", "top"))
    np.testing.assert_array_equal(images[0], project(edge, 28)[1])
    with pytest.raises(ValueError, match="unknown view"):
        project_views(edge, 28, views=("back",))


def test_tall_prints_draw_a_layer_budget():
    tall = parse_gcode(prism_gcode(SQUARE, layers=90, infill=False).encode())
    assert len(drawn_layers(90, 28)) == 28 and drawn_layers(90, 28)[[0, -1]].tolist() == [0, 89]
    assert len(drawn_layers(90, 28, layers_per_px=0)) == 90 and len(drawn_layers(20, 28)) == 20
    ranges = drawn_ranges(tall, 28)
    drawn = np.concatenate([tall.layer[a:b] for a, b in ranges])
    assert np.unique(drawn).tolist() == drawn_layers(90, 28).tolist() and len(drawn) == sum(b - a for a, b in ranges)
    every = project(tall, 28, layers_per_px=0)
    diff = np.abs(project(tall, 28).astype(int) - every).mean((1, 2))  # ink is normalised: nearly the same image
    assert diff[0] < 0.5 and diff[1:].max() < 10  # front and side: a mild banding where layers are 0.8 px apart


def test_rotation_about_z_turns_the_top_view():
    rect = [(0.0, 0.0), (40.0, 0.0), (40.0, 10.0), (0.0, 10.0)]
    tp = parse_gcode(prism_gcode(rect, layers=2).encode())
    top, quarter = project(tp, 32, rotate_deg=0)[0], project(tp, 32, rotate_deg=90)[0]
    np.testing.assert_allclose(np.rot90(top).astype(int), quarter, atol=40)
    assert np.abs(np.rot90(top).astype(int) - quarter).mean() < 3


def test_wide_lines_of_a_tiny_print_stay_inside_the_ink_buffer():
    """A 1 mm part drawn at 64 px has lines 26 px wide, wider than the margin; their
    splats must land inside the buffers (guard bands around them stay untouched)."""
    from c3po import _raster

    tiny = parse_gcode(prism_gcode([(100.0, 100.0), (101.0, 100.0), (101.0, 101.0), (100.0, 101.0)], layers=3,
                                   width=0.5, infill=False).encode())
    size, guard = 64, 4096
    ranges = np.array([[0, len(tiny)]], np.int64)
    scale = size * 0.8 / 1.0
    affine = np.zeros((3, 2, 4))
    for v, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
        affine[v, 0, a], affine[v, 0, 3] = scale, size / 2 - 100.5 * scale
        affine[v, 1, b] = -scale
        affine[v, 1, 3] = size / 2 + (100.5 if b < 2 else 0.3) * scale
    shape = (3, 2, size + 4, size + 4)
    buf = np.zeros(int(np.prod(shape)) + 2 * guard, np.float32)
    ink = buf[guard:-guard].reshape(shape)
    width = np.full(3, 0.5 * scale)
    assert width[0] > 20
    _raster.project_ink(tiny.start, tiny.end, tiny.extrude, ranges, affine, width, ink)
    assert not buf[:guard].any() and not buf[-guard:].any()
    wall = int(size / 2 - 0.5 * scale) + 2  # the left wall's centre column, in the bordered buffer
    assert ink[0, :, size // 2 + 2, wall].sum() > 0
    images = project(tiny, size)
    assert images[0].any() and images[0, size // 2, size // 2] == 0  # walls drawn, the hole stays open


def test_a_move_continues_a_polyline_only_from_where_the_last_one_ended():
    """Polylines are per view, in px: a move from the same XY one layer up starts a new
    polyline in the front and side views, and continues the one in the top view."""
    from c3po import _raster

    def ink(segments):
        a = np.array([s for s, _ in segments], np.float32)
        b = np.array([e for _, e in segments], np.float32)
        out = np.zeros((3, 2, 36, 36), np.float32)
        affine = np.zeros((3, 2, 4))
        for v, (i, j) in enumerate([(0, 1), (0, 2), (1, 2)]):
            affine[v, 0, i], affine[v, 0, 3] = 1.2, 3.0
            affine[v, 1, j], affine[v, 1, 3] = -1.2, 29.0
        _raster.project_ink(a, b, np.ones(len(a), np.bool_), np.array([[0, len(a)]], np.int64), affine,
                            np.full(3, 0.6), out)
        return out.sum(1)  # the two buffers samples alternate between, summed as render.py does

    low, up = ((0.0, 1.0, 2.0), (10.3, 1.0, 2.0)), ((10.3, 1.0, 12.0), (20.3, 7.0, 12.0))
    joined = ((10.3, 1.0, 2.0), (20.3, 7.0, 2.0))  # ``up`` on ``low``'s layer: starts where it ends
    pair, alone = ink([low, up]), ink([low]) + ink([up])
    np.testing.assert_allclose(pair[1:], alone[1:], atol=1e-5)  # front, side: a new polyline one layer up
    np.testing.assert_allclose(pair[0], ink([low, joined])[0], atol=1e-5)  # top: the same path in px
    assert not np.allclose(pair[0], alone[0], atol=1e-3)  # ... sampled as one polyline
    assert abs(pair.sum() - alone.sum()) < 0.5 * 3  # ink kept within half a pixel a view


def test_extrusion_width_is_estimated_from_e_and_layer_height(square):
    assert extrusion_width(square) == pytest.approx(0.4, rel=0.05)


def test_canonical_pose_undoes_a_rotation_about_z():
    rect = [(0.0, 0.0), (40.0, 0.0), (40.0, 12.0), (25.0, 12.0), (25.0, 6.0), (0.0, 6.0)]  # heavy end at +x

    def rotated(deg):
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        return [(100 + c * x - s * y, 100 + s * x + c * y) for x, y in rect]

    def top(deg, canonical):
        return project(parse_gcode(prism_gcode(rotated(deg), 3, infill=False).encode()), 32, canonical=canonical)[0]

    a, b, plain = top(0, True), top(137, True), top(137, False)
    assert np.abs(a.astype(int) - b).mean() < 0.25 * np.abs(a.astype(int) - plain).mean()


def test_canonical_angle_from_moments_equals_the_direct_computation():
    from c3po import _raster
    from c3po.render import canonical_angle

    rng = np.random.default_rng(3)
    start = (rng.normal(0, [30, 8, 5], (500, 3)) + [120, 80, 0]).astype(np.float32)
    start[:250, 0] += 40  # a heavier tail towards +x before turning
    end = (start + rng.normal(0, 2, (500, 3))).astype(np.float32)
    extrude = rng.random(500) < 0.8
    ranges = np.array([[0, 200], [260, 500]], np.int64)
    m = np.zeros(500, bool)
    m[0:200] = m[260:500] = True
    m &= extrude
    mid = 0.5 * (start[m, :2] + end[m, :2]).astype(np.float64)
    w = np.linalg.norm((end[m] - start[m])[:, :2], axis=1) + 1e-6
    for deg in (0.0, 33.0, 150.0, 260.0):
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
        a = canonical_angle(_raster.footprint_moments(start @ rot.T, end @ rot.T, extrude, ranges))
        # the direct way: rotate the centred midpoints by a; the principal axis is x, the
        # heavier tail +x
        d = (mid - (mid * w[:, None]).sum(0) / w.sum()) @ rot[:2, :2].T.astype(np.float64)
        ca, sa = math.cos(a), math.sin(a)
        x, y = d[:, 0] * ca - d[:, 1] * sa, d[:, 0] * sa + d[:, 1] * ca
        assert (w * x * y).sum() == pytest.approx(0, abs=1e-6 * (w * x * x).sum())
        assert (w * x * x).sum() > (w * y * y).sum()
        assert (w * x**3).sum() > 0
        # and a turn of the input turns the answer back by as much
        if deg:
            assert math.remainder(a + math.radians(deg) - base, 2 * math.pi) == pytest.approx(0, abs=1e-6)
        else:
            base = a


def test_nothing_to_draw_gives_black_images():
    tp = parse_gcode(b"G90\nG1 X10 Y10 F600\nG1 X20\n")
    assert project(tp, 28).max() == 0


@pytest.fixture(scope="module")
def real():
    return parse_gcode(real_file("cylinder_prusa"))


def test_camera_frames_are_incremental_and_equal_from_scratch(real):
    frames = camera_frames(real, 48)
    assert frames.shape == (real.n_layers, 48, 48)
    for k in (0, real.n_layers // 3, real.n_layers - 1):
        scratch = camera_frames(real.upto_layer(k), 48)
        np.testing.assert_array_equal(scratch[-1], frames[k])
    # more plastic, more object pixels: frames only grow (the bed is darker than plastic)
    lit = (frames > 80).sum((1, 2))
    assert lit[-1] > lit[0] > 0 and np.all(np.diff(lit) >= -2)


def test_streamed_layers_give_the_same_frames(real):
    path = real_file("cylinder_prusa")
    import gzip

    data = gzip.decompress(path.read_bytes())
    sp, ren, got = StreamParser(), CameraRenderer(48), []
    for i in range(0, len(data), 50_000):
        got += [ren.add_layer(layer) for layer in sp.feed(data[i : i + 50_000])]
    got += [ren.add_layer(layer) for layer in sp.close()]
    np.testing.assert_array_equal(np.stack(got), camera_frames(real, 48))


def test_camera_zooms_out_when_the_print_outgrows_its_first_layer():
    """A T: a 20 mm stem, then a 200 mm bar on it. Framed from the first layer alone, the
    bar would leave the frame; the camera zooms out once, keeps all of it in view, and
    streaming still equals rendering from the whole file."""
    from c3po.render import REFRAME_GROW, extruding, fits
    from c3po.toolpath import bbox

    bar = [(0.0, 90.0), (200.0, 90.0), (200.0, 110.0), (0.0, 110.0)]
    gcode = prism_gcode(SQUARE, layers=5) + prism_gcode(bar, layers=10, z0=1.0).split("\n", 3)[3]
    tp = parse_gcode(gcode.encode())
    cam = Camera()
    s, e = extruding(tp)
    lo, hi = bbox(s, e)
    first = cam.frame(*bbox(*extruding(tp.upto_layer(0))))
    assert not fits(first, lo, hi)  # the old, fixed framing cut the bar off
    ren = CameraRenderer(48, cam)
    frames = np.stack([ren.add_layer(tp.take(*tp.layer_range(k))) for k in range(tp.n_layers)])
    assert ren.reframes == 1 and fits(ren._frame, lo, hi)
    assert ren._frame[1] == pytest.approx(1.2 * REFRAME_GROW * 0.5 * math.hypot(200, 20), rel=0.01)
    (eye, right, up, fwd), f = cam.view(*ren._frame, 48)
    p = np.concatenate([s, e]).astype(np.float64) - eye
    assert np.abs(p @ right / (p @ fwd) * f).max() < 24 and np.abs(p @ up / (p @ fwd) * f).max() < 24
    np.testing.assert_array_equal(frames, camera_frames(tp, 48))
    for k in (4, 5, tp.n_layers - 1):  # before, at and after the zoom, from scratch
        np.testing.assert_array_equal(camera_frames(tp.upto_layer(k), 48)[-1], frames[k])
    lit = (frames > 80).sum((1, 2))
    assert lit[-1] > lit[5] > 0 and np.all(np.diff(lit[5:]) >= -2)  # after the zoom, frames only grow


def test_camera_shows_bed_and_shaded_object(real):
    last = camera_frames(real, 64, Camera(elevation_deg=35))[-1]
    assert last[:6].max() == 0  # sky above the bed's far edge
    bed = last[-6:]
    assert 0 < bed.min() and bed.max() < 80  # checkerboard bed at the bottom
    obj = last[last > 80]
    assert obj.size > 150 and obj.max() - obj.min() > 60  # shading varies across the part


def test_render_never_imports_torch():
    code = "import sys, c3po, c3po.render, c3po.dataset; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_pure_python_fallback_matches_numba(square, tmp_path):
    np.save(tmp_path / "numba.npy", np.concatenate([project(square, 28), camera_frames(square, 28)]))
    code = (
        "import numpy as np, sys; from c3po import parse_gcode; from c3po.render import project, camera_frames;"
        "from tests.test_render import prism_gcode, SQUARE; tp = parse_gcode(prism_gcode(SQUARE, 5).encode());"
        f"np.save(r'{tmp_path / 'py.npy'}', np.concatenate([project(tp, 28), camera_frames(tp, 28)]))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "C3PO_NO_NUMBA": "1"})
    a, b = np.load(tmp_path / "numba.npy").astype(int), np.load(tmp_path / "py.npy").astype(int)
    assert np.abs(a - b).max() <= 2  # fastmath may reorder float sums


def test_cli_render_writes_a_png(tmp_path, real):
    from c3po.cli import main

    src = real_file("lshape_prusa")
    out = tmp_path / "views.png"
    assert main(["render", str(src), "--out", str(out), "--size", "64"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_extrude_stats_bounding_box_equals_numpy_on_broken_polylines():
    """The bounding-box pass skips a move's start when it continues the previous move;
    on moves where half do not continue, the box still equals numpy's over all ends."""
    from c3po import _raster

    rng = np.random.default_rng(5)
    end = rng.normal(100, 30, (400, 3)).astype(np.float32)
    start = np.roll(end, 1, axis=0)
    jump = rng.random(400) < 0.5
    start[jump] = rng.normal(100, 40, (jump.sum(), 3)).astype(np.float32)  # travel-free jumps
    extrude = rng.random(400) < 0.7
    ranges = np.array([[0, 150], [151, 400]], np.int64)
    m = np.zeros(400, bool)
    m[0:150] = m[151:400] = True
    m &= extrude
    c, s = math.cos(0.6), math.sin(0.6)
    lo, hi, _, _ = _raster.extrude_stats(start, end, np.ones(400, np.float32), extrude, ranges, np.array([c, s]))
    pts = np.concatenate([start[m], end[m]]).astype(np.float64)
    turned = np.stack([c * pts[:, 0] - s * pts[:, 1], s * pts[:, 0] + c * pts[:, 1], pts[:, 2]], 1)
    np.testing.assert_allclose(lo, turned.min(0), rtol=1e-6)
    np.testing.assert_allclose(hi, turned.max(0), rtol=1e-6)
