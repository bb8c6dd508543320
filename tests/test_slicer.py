"""Mesh -> G-code: sections, the built-in slicer, real-slicer backends, bad meshes."""

import math
import os
import shutil

import numpy as np
import pytest
import shapely
import trimesh

from c3po import backends
from c3po.errors import MeshError, SlicerError
from c3po.gcode import parse_gcode
from c3po.mesh import load_mesh, prepare_mesh
from c3po.objects import loose_scaffolding
from c3po.section import sections
from c3po.shapes import create_shape, list_shapes
from c3po.shapes.pose import Pose, apply_pose
from c3po.slicer import SliceConfig, layer_heights, slice_mesh

CENTRE = np.array([110.0, 110.0])


def box(x=40.0, y=30.0, z=20.0):
    m = trimesh.creation.box((x, y, z))
    m.apply_translation([0, 0, z / 2])
    return m


def extruding(tp, k):
    i, j = tp.layer_range(k)
    ex = tp.extrude[i:j]
    return tp.start[i:j][ex].astype(float), tp.end[i:j][ex].astype(float)


# ---- sections ---------------------------------------------------------------------


def test_sections_match_trimesh_and_keep_holes_and_islands():
    outer = trimesh.creation.box((60, 60, 10))
    hole = trimesh.creation.box((40, 40, 12))
    island = trimesh.creation.box((10, 10, 10))
    m = trimesh.boolean.union([trimesh.boolean.difference([outer, hole], engine="manifold"), island], engine="manifold")
    m.apply_translation([0, 0, 5])
    (r,) = sections(m.vertices, m.faces, np.array([5.0]))
    assert r.area == pytest.approx(60 * 60 - 40 * 40 + 10 * 10)
    assert r.contains(shapely.Point(0, 0)) and r.contains(shapely.Point(25, 25))  # island, ring
    assert not r.contains(shapely.Point(12, 12))  # the hole between them
    for name in list_shapes():
        mesh = create_shape(name, 4)
        h = np.linspace(0.1, mesh.bounds[1, 2] - 0.1, 25)
        ours = np.array([g.area for g in sections(mesh.vertices, mesh.faces, h)])
        ref = np.array([0 if p is None else p.area for p in mesh.section_multiplane([0, 0, 0], [0, 0, 1], list(h))])
        assert ours == pytest.approx(ref, rel=1e-6, abs=1e-6), name


def test_inside_out_mesh_is_turned_right_side_out():
    m = box()
    m.invert()
    tp = parse_gcode(slice_mesh(m))
    assert tp.n_layers == 100


# ---- built-in slicer ----------------------------------------------------------------


def test_box_layers_bbox_and_filament():
    cfg = SliceConfig()
    gcode = slice_mesh(box(), config=cfg)
    text = gcode.decode()
    tp = parse_gcode(gcode)
    assert tp.n_layers == 100 and len(layer_heights(20.0, cfg)) == 100
    w = cfg.extrusion_width / 2
    expect = [[110 - 20 + w, 110 - 15 + w, 0.2], [110 + 20 - w, 110 + 15 - w, 20.0]]
    assert tp.bbox() == pytest.approx(np.array(expect), abs=0.01)
    assert tp.layer_z == pytest.approx(np.arange(1, 101) * 0.2, abs=1e-4)
    assert text.count(";LAYER:") == 100 and "M83" in text and ";FLAVOR:Marlin" in text
    # Plastic laid ~ walls + 3 solid layers top and bottom + 20% infill of the box volume.
    laid = tp.filament_mm * math.pi * (cfg.filament_diameter / 2) ** 2
    assert 0.3 * 24000 < laid < 0.6 * 24000
    assert (tp.e < 0).sum() > 0  # retractions before long travels


def test_absolute_e_gives_the_same_plastic():
    rel = parse_gcode(slice_mesh(box(), config=SliceConfig(relative_e=True)))
    ab = parse_gcode(slice_mesh(box(), config=SliceConfig(relative_e=False)))
    assert ab.filament_mm == pytest.approx(rel.filament_mm, rel=1e-4)
    assert np.array_equal(ab.extrude, rel.extrude)


def test_infill_alternates_direction_and_avoids_holes():
    m = trimesh.boolean.difference([box(50, 50, 10), trimesh.creation.cylinder(10, 30)], engine="manifold")
    tp = parse_gcode(slice_mesh(m, config=SliceConfig(infill_density=0.3)))
    for k in (20, 21):
        s, e = extruding(tp, k)
        mid = (s + e)[:, :2] / 2 - CENTRE
        assert np.hypot(*mid.T).min() > 10 - 0.01  # nothing laid inside the hole
    d20, d21 = [np.diff(np.stack(extruding(tp, k)), axis=0)[0][:, :2] for k in (20, 21)]
    ang = lambda d: np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180  # noqa: E731
    long20, long21 = np.hypot(*d20.T) > 5, np.hypot(*d21.T) > 5
    assert np.median(ang(d20[long20])) != pytest.approx(np.median(ang(d21[long21])), abs=10)
    assert {round(np.median(ang(d20[long20]))), round(np.median(ang(d21[long21])))} == {45, 135}


def test_skirt_surrounds_the_first_layer():
    tp = parse_gcode(slice_mesh(box(), config=SliceConfig(skirts=2, skirt_distance=5)))
    s, e = extruding(tp, 0)
    assert (e[:, 0].max() - e[:, 0].min()) == pytest.approx(40 + 2 * 5 + 2 * 0.45, abs=0.3)
    assert tp.bbox()[1, 0] - tp.bbox()[0, 0] == pytest.approx(40 + 2 * 5.45, abs=0.3)


def test_overlapping_shells_are_unioned():
    m = trimesh.util.concatenate([box(40, 10, 10), box(10, 40, 10)])
    tp = parse_gcode(slice_mesh(m))
    assert tp.n_layers == 50
    assert tp.bbox()[:, :2] == pytest.approx(np.array([[90.225, 90.225], [129.775, 129.775]]), abs=0.01)


@pytest.mark.parametrize("name", list_shapes())
def test_every_class_slices_and_round_trips(name):
    mesh = apply_pose(create_shape(name, 11), Pose("flat", 20.0, 1.0))
    cfg = SliceConfig()
    tp = parse_gcode(slice_mesh(mesh, config=cfg))
    z = layer_heights(float(mesh.bounds[1, 2]), cfg)
    assert tp.n_layers == len(z)
    lo, hi = mesh.bounds
    want = np.array([[*(lo[:2] + CENTRE), 0.2], [*(hi[:2] + CENTRE), z[-1]]])
    got = tp.bbox()
    assert got[:, :2] == pytest.approx(want[:, :2], abs=0.6)  # outer wall centred 0.225 mm inside
    assert got[:, 2] == pytest.approx(want[:, 2], abs=1e-3)
    laid = tp.filament_mm * math.pi * (cfg.filament_diameter / 2) ** 2
    assert 0.1 * mesh.volume < laid < 1.3 * mesh.volume


def dataset_object(label: str, index: int):
    """The posed mesh the dataset builder slices for ``procedural/<label>/<index>`` (seed 0)."""
    import zlib

    from c3po.shapes.pose import random_pose
    from c3po.shapes.source import object_seed

    rng = np.random.default_rng([0, zlib.crc32(f"procedural/{label}/{index:05d}".encode())])
    return apply_pose(create_shape(label, object_seed(label, index, seed=0)), random_pose(rng))


# Objects that once failed to slice: an inward mitre buffer that GEOS returned
# self-intersecting (TopologyException in the skin/infill booleans), a silhouette that
# snapping split in two (MultiPolygon in extrude), loops that left gaps in ring indices.
@pytest.mark.parametrize("label,index", [("hair_dryer", 8), ("rifle", 23), ("rifle", 24), ("rifle", 0), ("mug", 0)])
def test_once_failing_objects_slice(label, index):
    mesh = dataset_object(label, index)
    cfg = SliceConfig()
    tp = parse_gcode(slice_mesh(mesh, config=cfg), name=f"{label}/{index}")
    z = layer_heights(float(mesh.bounds[1, 2] - mesh.bounds[0, 2]), cfg)
    assert tp.n_layers == len(z)
    lo, hi = mesh.bounds
    ctr = (lo[:2] + hi[:2]) / 2
    want = np.array([[*(lo[:2] - ctr + CENTRE), 0.2], [*(hi[:2] - ctr + CENTRE), z[-1]]])
    got = tp.bbox()
    assert got[:, :2] == pytest.approx(want[:, :2], abs=0.6)
    assert got[:, 2] == pytest.approx(want[:, 2], abs=1e-3)


def test_invalid_offsets_are_repaired():
    from c3po.slicer import _valid

    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    ok = shapely.box(0, 0, 1, 1)
    fixed = _valid(np.array([ok, bowtie], dtype=object))
    assert fixed[0] is ok and shapely.is_valid(fixed).all()
    assert fixed[1].area == pytest.approx(50) and fixed[1].geom_type in ("Polygon", "MultiPolygon")
    assert shapely.difference(fixed[1], ok).is_valid  # booleans work on the result


def test_slice_config_is_checked():
    with pytest.raises(SlicerError, match="infill_density"):
        SliceConfig(infill_density=20)
    with pytest.raises(SlicerError, match="unknown slicer"):
        slice_mesh(box(), slicer="simplify3d")


# ---- bad meshes -------------------------------------------------------------------


def test_bad_meshes_raise_mesh_error(tmp_path):
    with pytest.raises(MeshError, match="empty mesh"):
        slice_mesh(trimesh.Trimesh())
    nan = box()
    nan.vertices[0] = [np.nan, 0, 0]
    with pytest.raises(MeshError, match="NaN"):
        slice_mesh(nan)
    with pytest.raises(MeshError, match="metres or inches"):
        slice_mesh(box(5000, 10, 10))
    with pytest.raises(MeshError, match="larger than the 220x220x250 mm bed"):
        slice_mesh(box(300, 10, 10))
    flat = trimesh.Trimesh([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]], [[0, 1, 2], [1, 3, 2]])
    with pytest.raises(MeshError, match="flat"):
        slice_mesh(flat)
    with pytest.raises(MeshError, match="0.090 mm tall, under half the 0.2 mm first layer"):
        slice_mesh(box(100, 100, 0.09))  # a bed plate's decal: solid, but thinner than any layer
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"solid x\nfacet normal 0 0 1\n outer loop\n vertex 1 2\nendsolid\n" + os.urandom(64))
    with pytest.raises(MeshError, match="bad.stl"):
        slice_mesh(bad)
    with pytest.raises(MeshError, match="no such mesh file"):
        slice_mesh(tmp_path / "missing.stl")
    (tmp_path / "a.step").write_text("ISO-10303-21;")
    with pytest.raises(MeshError, match="unsupported mesh format"):
        load_mesh(tmp_path / "a.step")


def test_open_mesh_is_repaired_and_sliced():
    m = box()
    m.update_faces(np.arange(len(m.faces)) != 0)  # knock out one triangle
    assert not m.is_watertight
    fixed = prepare_mesh(m)
    assert fixed.is_watertight
    assert parse_gcode(slice_mesh(m)).n_layers == 100


def test_cli_slice(tmp_path):
    from c3po.cli import main

    stl, out = tmp_path / "gear.stl", tmp_path / "gear.gcode"
    create_shape("gear", 5).export(stl)
    assert main(["slice", str(stl), "-o", str(out)]) == 0
    assert parse_gcode(out).n_layers > 10
    assert main(["slice", str(tmp_path / "nope.stl"), "-o", str(out)]) == 2


# ---- real slicers -------------------------------------------------------------------


def small_object():
    return apply_pose(create_shape("pistol", 2), Pose("flat", 0.0, 0.35))


@pytest.mark.parametrize("backend", ["prusa", "cura"])
def test_real_slicer_backend(backend):
    pkg = {"prusa": "prusa-slicer", "cura": "cura-engine"}[backend]
    if not any(shutil.which(b) for b in (backends.PRUSA_BINS if backend == "prusa" else backends.CURA_BINS)):
        pytest.skip(f"{backend} binary not installed (Debian package {pkg})")
    mesh = small_object()
    cfg = SliceConfig()
    tp = parse_gcode(slice_mesh(mesh, slicer=backend, config=cfg))
    ours = parse_gcode(slice_mesh(mesh, config=cfg))
    assert abs(tp.n_layers - ours.n_layers) <= 1
    assert np.abs(tp.bbox() - ours.bbox()).max() < 1.0
    assert tp.filament_mm > 0.3 * ours.filament_mm


@pytest.mark.parametrize("backend", ["prusa", "cura"])
def test_real_slicer_scaffolding_is_marked_and_left_out(backend):
    """Supports and a brim from a real slicer are marked ``aux`` by their feature
    comments: the object's own moves span the object, the brim lies beyond it."""
    if not any(shutil.which(b) for b in (backends.PRUSA_BINS if backend == "prusa" else backends.CURA_BINS)):
        pytest.skip(f"{backend} binary not installed")
    column, arms = box(10, 10, 20), box(40, 10, 4)
    arms.apply_translation([0, 0, 20])
    tee = trimesh.util.concatenate([column, arms])  # arms 15 mm out over nothing: they need support
    tp = parse_gcode(slice_mesh(tee, slicer=backend, config=SliceConfig(supports=True, brim_width=5.0)))
    aux = tp.aux & tp.extrude
    assert aux[tp.layer > 2].sum() > 20  # supports, above the brim's first layer
    assert not loose_scaffolding(tp).any()  # they hold the arms up: scaffolding, not the object
    obj = tp.object_moves()
    (x0, y0, _), (x1, y1, z1) = obj.bbox()
    assert x1 - x0 == pytest.approx(40, abs=1.0) and y1 - y0 == pytest.approx(10, abs=1.0) and z1 == pytest.approx(24, abs=0.5)
    assert (tp.bbox()[1, :2] - tp.bbox()[0, :2] > [44, 14]).all()  # the brim and supports widen the plate
    with pytest.raises(SlicerError, match="no supports, brims or rafts"):
        slice_mesh(tee, config=SliceConfig(supports=True))


def test_cura_tree_supports():
    """CuraEngine's tree supports (``tree_supports``) are other moves than its default
    supports, marked ``aux`` the same way; PrusaSlicer 2.5 has none."""
    with pytest.raises(SlicerError, match="set supports=True"):
        SliceConfig(tree_supports=True)
    column, arms = box(10, 10, 20), box(40, 10, 4)
    arms.apply_translation([0, 0, 20])
    tee = trimesh.util.concatenate([column, arms])
    with pytest.raises(SlicerError, match="slice with cura, not prusa"):
        slice_mesh(tee, slicer="prusa", config=SliceConfig(supports=True, tree_supports=True))
    if not any(shutil.which(b) for b in backends.CURA_BINS):
        pytest.skip("cura binary not installed")
    grid = parse_gcode(slice_mesh(tee, slicer="cura", config=SliceConfig(supports=True)))
    tree = parse_gcode(slice_mesh(tee, slicer="cura", config=SliceConfig(supports=True, tree_supports=True)))
    marked = [tp.aux & tp.extrude & (tp.layer > 2) for tp in (grid, tree)]
    assert all(m.sum() > 20 for m in marked)
    assert not np.array_equal(grid.end[marked[0]][:50], tree.end[marked[1]][:50])  # other support moves
    assert np.allclose(grid.object_moves().bbox(), tree.object_moves().bbox(), atol=0.5)  # the same object


@pytest.mark.parametrize("backend", ["prusa", "cura"])
def test_real_slicer_tuned_profile_parses_into_the_same_object(backend):
    """The options of a tuned user profile (``c3po.dataset.FEATURE_SETTINGS['tuned']``:
    z-hop, absolute E, firmware retraction, gyroid infill, fuzzy skin, ironing) reach
    the slicer's G-code, and it parses into the object of the plain profile: same
    layers, same box (fuzzy skin jitters the outer wall by a fraction of a millimetre)."""
    from c3po.dataset import FEATURE_SETTINGS

    if not any(shutil.which(b) for b in (backends.PRUSA_BINS if backend == "prusa" else backends.CURA_BINS)):
        pytest.skip(f"{backend} binary not installed")
    mesh = box(30, 20, 6)
    gcode = slice_mesh(mesh, slicer=backend, config=SliceConfig(**FEATURE_SETTINGS["tuned"]))
    text = gcode.decode()
    assert "\nM82" in text and "\nG10" in text and "\nG11" in text  # absolute E, firmware retraction
    plain, tuned = (parse_gcode(g) for g in (slice_mesh(mesh, slicer=backend), gcode))
    assert tuned.n_layers == plain.n_layers == 30  # z-hops are travel, not layers
    assert np.abs(tuned.bbox() - plain.bbox()).max() < 1.0
    travel_z = {round(float(w[1:]), 2) for line in text.splitlines() if line.startswith(("G0 ", "G1 "))
                and " E" not in line for w in line.split() if w.startswith("Z")}
    hopped = [z for z in plain.layer_z if round(float(z) + 0.4, 2) in travel_z]
    assert len(hopped) >= 20  # the nozzle lifts 0.4 mm over most layers
    with pytest.raises(SlicerError, match="no z-hop"):
        slice_mesh(mesh, config=SliceConfig(z_hop=0.4))


@pytest.mark.parametrize("backend", ["prusa", "cura"])
def test_real_slicer_spiral_vase_is_one_object_with_its_flat_layers(backend):
    """A spiral vase print of a box turned 45 degrees: one wall climbing in a spiral on
    diagonals. It parses into as many layers as the box printed flat, one object."""
    if not any(shutil.which(b) for b in (backends.PRUSA_BINS if backend == "prusa" else backends.CURA_BINS)):
        pytest.skip(f"{backend} binary not installed")
    from c3po.objects import Footprint

    mesh = box(40, 30, 12)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 4, [0, 0, 1]))
    vase = parse_gcode(slice_mesh(mesh, slicer=backend, config=SliceConfig(vase=True))).object_moves()
    flat = parse_gcode(slice_mesh(mesh, slicer=backend)).object_moves()
    climbing = vase.extrude & (vase.start[:, 2] != vase.end[:, 2])
    assert climbing.sum() > 100  # it is a spiral
    assert abs(vase.n_layers - flat.n_layers) <= 1
    fp = Footprint()
    fp.add(vase, 0, len(vase))
    assert len(fp.objects(vase, np.array([[0, len(vase)]]))[0]) == 1


def test_builtin_vase_is_one_wall_over_a_solid_bottom():
    """The built-in slicer's vase mode (flat layers, as training data): above the bottom
    solid layers each layer is the outline alone, one loop around the section."""
    mesh = box(40, 30, 12)
    cfg = SliceConfig(vase=True, solid_layers=3)
    tp = parse_gcode(slice_mesh(mesh, config=cfg))
    flat = parse_gcode(slice_mesh(mesh))
    assert tp.n_layers == flat.n_layers
    for k in (0, 2):  # solid bottom: lines inside the outline
        a, b = extruding(tp, k)
        assert (np.abs((a + b)[:, :2] / 2 - CENTRE).max(1) < 14).any()
    for k in (3, tp.n_layers // 2, tp.n_layers - 1):  # one wall: every move on the outline, 140 mm around
        a, b = extruding(tp, k)
        off = np.abs(np.concatenate([a, b])[:, :2] - CENTRE)
        assert np.all((np.abs(off[:, 0] - 19.775) < 0.01) | (np.abs(off[:, 1] - 14.775) < 0.01))
        assert np.linalg.norm(b - a, axis=1).sum() == pytest.approx(2 * (39.55 + 29.55), rel=0.02)
    assert tp.filament_mm < 0.5 * flat.filament_mm


def test_missing_backends_name_their_package(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SlicerError, match="apt-get install prusa-slicer"):
        slice_mesh(box(), slicer="prusa")
    with pytest.raises(SlicerError, match="apt-get install cura-engine"):
        slice_mesh(box(), slicer="cura")
    monkeypatch.setenv("C3PO_CURA_DEFS", str(tmp_path))
    with pytest.raises(SlicerError, match="cura-defs.sh"):
        backends.cura_definitions()
    assert not backends.available("cura")


# ---- the built-in slicer's building blocks ----------------------------------------------


def test_move_lines_print_what_python_formatting_prints():
    from c3po._emit import format_moves

    rng = np.random.default_rng(3)
    n = 400
    travel = rng.random(n) < 0.3
    xy = np.round(rng.uniform(-5, 300, (n, 2)), 3)
    xy[:3] = [[0.0, 0.0], [0.0005, 123.4564], [99.9995, 7.0]]  # rounding at the last digit
    e = np.round(rng.uniform(0, 50, n), 5)
    speed = np.where(rng.random(n) < 0.2, rng.integers(600, 6000, n), 0)
    retract = travel & (rng.random(n) < 0.5)
    back = np.where(retract, -np.round(rng.uniform(0, 3, n), 5), np.nan)
    fwd = np.r_[np.nan, np.where(retract, 0.8, np.nan)[:-1]]
    text, starts = format_moves(travel, xy, e, speed, back, fwd, 2100, " F9000")
    expected = []
    for i in range(n):
        line = ""
        if not np.isnan(back[i]):
            line += f"G1 E{back[i]:.5f} F2100\n"
        if not np.isnan(fwd[i]):
            line += f"G1 E{fwd[i]:.5f} F2100\n"
        x, y = np.round(xy[i], 3)
        if travel[i]:
            line += f"G0 X{x:.3f} Y{y:.3f} F9000\n"
        else:
            line += f"G1 X{x:.3f} Y{y:.3f} E{e[i]:.5f}" + (f" F{speed[i]}" if speed[i] else "") + "\n"
        expected.append(line)
    assert text.decode() == "".join(expected)
    assert [text[a:b].decode() for a, b in zip(starts, starts[1:])] == expected


def test_solid_cover_window_equals_the_layer_by_layer_intersection():
    from c3po.slicer import _distinct, _window_meet

    rng = np.random.default_rng(5)
    squares = [shapely.box(0, 0, 10, 10), shapely.box(1, 0, 10, 9), shapely.box(0, 2, 8, 10)]
    layers = np.array([squares[i] for i in rng.integers(0, 3, 23)] + [shapely.Polygon()] + [squares[0]] * 6,
                      dtype=object)
    for s in (1, 2, 3, 5):
        ids, distinct = _distinct(layers)
        assert all(distinct[ids[k]].equals(layers[k]) or layers[k].is_empty for k in range(len(layers)))
        cover_ids, cover = _window_meet(ids, distinct, s)
        for k in range(len(layers)):
            window = layers[max(k - s, 0):k + s + 1]
            naive = shapely.intersection_all(window) if k - s >= 0 and k + s < len(layers) else shapely.Polygon()
            assert cover[cover_ids[k]].symmetric_difference(naive).area < 1e-9, (s, k)


#: two layer regions of a tipped part (dataset object other/00080 of c3po22) on which GEOS's
#: intersection fails: the first is a MultiPolygon with one shell nested in another
NESTED = shapely.from_wkt(
    "MULTIPOLYGON (((109.26914899702616 131.910295497579, 109.22149081603798 131.89600038098965, "
    "109.18911255705322 131.9537420325606, 107.95310758752065 131.583001169646, 123.15737750582021 "
    "159.59203887919807, 143.341445234066 123.59685437599097, 112.18993728116617 66.210096205378, "
    "92.18469714758 60.20950545310616, 80.51048044529321 81.02867777193369, 104.53329320242808 "
    "125.28307946433345, 111.86372049503356 127.48184808337949, 109.42922187697206 131.82340242761583, "
    "109.38156369598387 131.80910731102648, 109.34918543699911 131.86684896259743, 109.30152725601091 "
    "131.85255384600808, 109.26914899702616 131.910295497579), (98.74149457611217 100.77004993753906, "
    "94.92316040557914 107.57946243128033, 101.27244929670951 96.25648095017013, 98.74149457611217 "
    "100.77004993753906), (103.70620159391937 91.91625755453714, 103.75385977490758 91.9305526711265, "
    "103.78623803389233 91.87281101955556, 127.69804978666218 99.04518163423484, 125.26429748945233 "
    "103.38540502986783, 125.21663930846414 103.37110991327846, 125.18426104947939 103.42885156484941, "
    "101.27244929670951 96.25648095017013, 103.70620159391937 91.91625755453714)), ((125.37671218841004 "
    "103.28421684331529, 125.42437036939823 103.29851195990466, 127.85812266660808 98.95828856427167, "
    "103.94631091383822 91.7859179495924, 103.91393265485347 91.84365960116335, 127.77808622663512 "
    "99.00173509925325, 125.37671218841004 103.28421684331529)))"
)
CROSSING = shapely.from_wkt(
    "POLYGON ((94.72179655374585 108.53428090363059, 103.4987003601272 124.70293819576186, "
    "112.18386625492535 127.30806194345317, 109.74936763686384 131.64961628768953, 109.70170945587564 "
    "131.63532117110017, 109.6693311968909 131.6930628226711, 109.62167301590272 131.67876770608174, "
    "109.58929475691795 131.7365093576527, 109.54163657592976 131.72221424106334, 109.50925831694501 "
    "131.77995589263426, 106.91851474521977 131.0028599010744, 122.90124307078345 160.44595994979449, "
    "143.08531079902923 124.45077544658737, 111.1553444388653 65.62995493680641, 92.50484290747178 "
    "60.03571931317984, 80.25434601025644 81.8825988425301, 94.6944112621441 108.48383220275366, "
    "94.72179655374585 108.53428090363059), (100.96687989708951 97.39713401093643, 98.87713783796256 "
    "101.12386798721624, 94.72179655374585 108.53428090363059, 100.96687989708951 97.39713401093643), "
    "(99.23898462886741 100.37928365357061, 98.85453062765416 101.06489831227005, 94.6944112621441 "
    "108.48383220275366, 99.23898462886741 100.37928365357061), (101.64025323758949 96.09698992683316, "
    "101.59259505660131 96.0826948102438, 94.66702597054237 108.43338350187675, 104.02634735381116 "
    "91.74247141461082, 104.07400553479935 91.75676653120018, 104.1063837937841 91.69902487962923, "
    "104.15404197477231 91.7133199962186, 104.18642023375706 91.65557834464765, 104.23407841474526 "
    "91.66987346123702, 104.26645667373 91.61213180966608, 128.17826842649987 98.78450242434535, "
    "125.74451612929002 103.12472581997834, 125.69685794830183 103.11043070338897, 125.66447968931708 "
    "103.16817235495992, 125.61682150832887 103.15387723837055, 125.58444324934412 103.2116188899415, "
    "125.53678506835593 103.19732377335214, 125.50440680937118 103.25506542492307, 101.6402532375895 "
    "96.09698992683316, 99.23898462886741 100.37928365357061, 101.64025323758949 96.09698992683316))"
)


def test_an_overlay_geos_cannot_do_is_redone_on_repaired_regions():
    from c3po.slicer import _overlay

    assert not shapely.is_valid(NESTED) and "Nested shells" in shapely.is_valid_reason(NESTED)
    with pytest.raises(shapely.errors.GEOSException):
        shapely.intersection(NESTED, CROSSING)
    plain = shapely.box(0, 0, 10, 10)
    out = _overlay(shapely.intersection, np.array([plain, NESTED], object), np.array([plain, CROSSING], object))
    assert out[0].equals(plain)  # pairs GEOS can do are left as they were
    assert out[1].is_valid and out[1].area == pytest.approx(2737.06, abs=0.1)
    repaired = shapely.make_valid(NESTED, method="structure", keep_collapsed=False)
    assert out[1].area == pytest.approx(repaired.intersection(CROSSING).area, rel=1e-9)
