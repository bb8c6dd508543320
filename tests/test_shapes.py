"""The procedural object library: registry, generators, poses, plates, sources, sheet."""

from collections import Counter

import numpy as np
import pytest
import trimesh

from c3po.errors import DatasetError, MeshError
from c3po.shapes import CLEAR_CLASSES, WEAPON_CLASSES, create_shape, is_weapon, list_shapes, register_shape
from c3po.shapes.registry import variants
from c3po.shapes.pose import BED, REST_SHARES, RESTS, Pose, apply_pose, plate, random_pose
from c3po.shapes.source import ObjectSpec, iter_objects

DEFAULT = ["pistol", "revolver", "rifle", "drill", "hair_dryer", "stapler", "hammer", "wrench", "mug", "gear"]
SEEDS = range(40)


def test_registry_holds_the_ten_default_classes():
    assert list_shapes() == DEFAULT
    assert list_shapes(extra=True) == [*DEFAULT, "other"] and not is_weapon("other")
    assert WEAPON_CLASSES == ("pistol", "revolver", "rifle")
    assert set(CLEAR_CLASSES) == set(DEFAULT) - set(WEAPON_CLASSES)
    assert is_weapon("revolver") and not is_weapon("drill")


def test_duplicate_and_unknown_names_raise():
    with pytest.raises(ValueError, match="already registered"):
        register_shape("pistol")(lambda rng: None)
    with pytest.raises(MeshError, match="unknown shape class 'bazooka'"):
        create_shape("bazooka", 0)


@pytest.mark.parametrize("name", [*DEFAULT, "other"])
def test_instances_are_watertight_realistic_and_all_different(name):
    feats = []
    for seed in SEEDS:
        m = create_shape(name, seed)
        assert m.is_watertight and m.is_volume, (name, seed)
        lo, hi = m.bounds
        assert lo[2] == pytest.approx(0, abs=1e-6)
        assert (lo[:2] + hi[:2]) == pytest.approx([0, 0], abs=1e-6)
        assert 1.2 <= m.extents.min() and m.extents.max() <= 320, m.extents  # mm: tags and signs to rifles
        assert m.volume > 0.2 * 1000  # > 0.2 cm^3
        feats.append([*np.sort(m.extents), np.cbrt(m.volume)])
    f = np.array(feats)
    # Clearly different: every pair differs by > 1% in some dimension or the volume.
    rel = np.abs(f[:, None] - f[None]) / f[None]
    diff = rel.max(axis=2) + np.eye(len(f))
    assert diff.min() > 0.01


def test_other_has_thin_plates_and_frames_of_rods():
    from c3po.shapes.generic import _frame, _plate

    for seed in range(8):
        p, f = _plate(np.random.default_rng(seed)), _frame(np.random.default_rng(seed))
        assert p.is_watertight and f.is_watertight
        assert p.extents[2] <= 8 and p.extents[:2].max() >= 30, p.extents  # a few layers, hand-sized or more
        assert sum(abs(b.volume) > 1 for b in f.split(only_watertight=False)) == 1  # rods join every node
        # rods are thin: the frame fills little of its bounding box
        assert f.volume < 0.5 * np.prod(f.extents)


def test_other_has_tall_parts_printed_standing():
    """Posts (some tapering), stepped towers and standing walls: mostly taller than
    wide, one watertight piece resting on the bed."""
    from c3po.shapes.generic import _upright

    tapered = tall = 0
    for seed in range(40):
        m = _upright(np.random.default_rng(seed))
        assert m.is_watertight and m.bounds[0][2] == pytest.approx(0, abs=1e-6)
        assert m.extents[2] >= 25
        tall += m.extents[2] > max(m.extents[:2])
        assert sum(abs(b.volume) > 1 for b in m.split(only_watertight=False)) == 1
        top = m.section(plane_origin=[0, 0, m.extents[2] - 0.5], plane_normal=[0, 0, 1])
        bottom = m.section(plane_origin=[0, 0, 0.5], plane_normal=[0, 0, 1])
        tapered += np.ptp(top.vertices[:, :2], axis=0).max() < 0.6 * np.ptp(bottom.vertices[:, :2], axis=0).max()
    assert 3 <= tapered <= 20 and tall >= 30


GRIP_AND_BODY = ["pistol", "revolver", "rifle", "drill", "hair_dryer", "stapler", "hammer"]


@pytest.mark.parametrize("name", GRIP_AND_BODY)
def test_assembled_variants_keep_the_contract_and_differ_from_the_generator(name):
    assert variants(name) == ["assembled"]
    feats = []
    for seed in range(20):
        m = create_shape(name, seed, "assembled")
        assert m.is_watertight and m.is_volume, (name, seed)
        lo, hi = m.bounds
        assert lo[2] == pytest.approx(0, abs=1e-6) and (lo[:2] + hi[:2]) == pytest.approx([0, 0], abs=1e-6)
        assert 5 <= m.extents.min() and 60 <= m.extents.max() <= 1200, m.extents  # scaled to the bed when posed
        assert sum(abs(b.volume) > 1 for b in m.split(only_watertight=False)) == 1, (name, seed)  # one piece
        assert not np.allclose(np.sort(m.extents), np.sort(create_shape(name, seed).extents), rtol=0.02)
        feats.append(np.sort(m.extents))
    assert len({tuple(np.round(f)) for f in feats}) == 20
    assert set(list_shapes()) - set(GRIP_AND_BODY) == {"wrench", "mug", "gear"}
    for clear in ("wrench", "mug", "gear"):
        assert variants(clear) == []


def test_assembled_other_joins_the_same_parts_as_something_else():
    assert variants("other") == ["assembled"]
    sizes, flat = [], 0
    for seed in range(40):
        m = create_shape("other", seed, "assembled")
        assert m.is_watertight and m.is_volume, seed
        lo, hi = m.bounds
        assert lo[2] == pytest.approx(0, abs=1e-6) and (lo[:2] + hi[:2]) == pytest.approx([0, 0], abs=1e-6)
        assert sum(abs(b.volume) > 1 for b in m.split(only_watertight=False)) == 1, seed  # one piece
        assert 2 <= m.extents[2] and 40 <= m.extents[:2].max() <= 400, m.extents  # crossing rods reach past
        sizes.append(m.extents[:2].max())
        flat += m.extents[2] < 0.1 * m.extents[:2].max()
    assert np.ptp(sizes) > 100 and 3 <= flat <= 37  # sizes and thicknesses drawn wide


def test_unknown_variant_raises():
    with pytest.raises(MeshError, match="'mug' has no variant 'assembled'"):
        create_shape("mug", 0, "assembled")


def test_assembled_share_leaves_the_other_objects_as_they_were():
    plain = list(iter_objects("procedural", ["pistol", "mug"], per_class=200, seed=3))
    mixed = list(iter_objects("procedural", ["pistol", "mug"], per_class=200, seed=3, assembled=0.35))
    assert [(s.object_id, s.seed) for s in plain] == [(s.object_id, s.seed) for s in mixed]
    assert {s.variant for s in plain} == {""}
    picked = [s.variant == "assembled" for s in mixed if s.label == "pistol"]
    assert 0.25 <= np.mean(picked) <= 0.45
    assert not any(s.variant for s in mixed if s.label == "mug")  # no variant: always the generator
    one = next(s for s in mixed if s.variant)
    assert one.mesh().volume == pytest.approx(create_shape("pistol", one.seed, "assembled").volume)
    assert all(s.variant == "assembled" for s in iter_objects("procedural", ["rifle"], per_class=20, assembled=1.0))


@pytest.mark.parametrize("name", DEFAULT)
def test_same_seed_same_mesh(name):
    a, b = create_shape(name, 7), create_shape(name, 7)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)


def test_random_pose_covers_rests_angles_and_scales():
    rng = np.random.default_rng(0)
    poses = [random_pose(rng) for _ in range(400)]
    assert {p.rest for p in poses} == set(RESTS)
    angles, scales = np.array([p.angle for p in poses]), np.array([p.scale for p in poses])
    assert 0 <= angles.min() < 20 and 340 < angles.max() < 360
    assert 0.5 <= scales.min() < 0.55 and 1.45 < scales.max() <= 1.5


def test_a_fixed_rest_keeps_the_drawn_angle_scale_and_tilt():
    for k in range(50):
        drawn = random_pose(np.random.default_rng(k), p_tilt=1.0)
        for rest in RESTS:
            fixed = random_pose(np.random.default_rng(k), p_tilt=1.0, rest=rest)
            assert fixed == Pose(rest, drawn.angle, drawn.scale, drawn.tilt, drawn.tilt_dir)
    shares = Counter(random_pose(np.random.default_rng(k)).rest for k in range(4000))
    for rest, share in REST_SHARES.items():  # the documented shares are what is drawn
        assert abs(shares[rest] / 4000 - share) < 0.025, (rest, shares)
    with pytest.raises(MeshError, match="unknown rest 'upside'"):
        random_pose(np.random.default_rng(0), rest="upside")


def test_tilted_poses_tip_the_same_pose_and_leave_untilted_draws_alone():
    plain = [random_pose(np.random.default_rng(k)) for k in range(200)]
    assert plain == [random_pose(np.random.default_rng(k), p_tilt=0.0) for k in range(200)]
    tilted = [random_pose(np.random.default_rng(k), p_tilt=1.0) for k in range(200)]
    assert [(p.rest, p.angle, p.scale) for p in tilted] == [(p.rest, p.angle, p.scale) for p in plain]
    tilts = np.array([p.tilt for p in tilted])
    assert 5 <= tilts.min() < 10 and 85 < tilts.max() <= 90 and all(0 <= p.tilt_dir <= 180 for p in tilted)
    assert 0.25 < np.mean([random_pose(np.random.default_rng(k), p_tilt=0.35).tilt > 0 for k in range(400)]) < 0.45
    slab = trimesh.creation.box((100.0, 40.0, 10.0))
    up = apply_pose(slab, Pose("flat", 0.0, 1.0, tilt=90.0, tilt_dir=0.0))  # tipped about x: 40 mm tall
    np.testing.assert_allclose(up.extents, [100, 10, 40], atol=1e-6)
    assert "tilted" in Pose(tilt=20.0).key() and Pose().key() == "flat:0.0:1.000"


@pytest.mark.parametrize("name", DEFAULT)
@pytest.mark.parametrize("rest", RESTS)
def test_posed_objects_fit_the_bed_and_rest_on_it(name, rest):
    m = apply_pose(create_shape(name, 3), Pose(rest, 33.0, 1.5))
    assert m.is_watertight
    assert m.bounds[0, 2] == pytest.approx(0, abs=1e-6)
    assert (m.extents <= np.array(BED) - [10, 10, 5] + 1e-6).all()


def test_pose_scales_rotates_and_stands_on_edge():
    w = create_shape("wrench", 1)
    half = apply_pose(w, Pose("flat", 0.0, 0.5))
    assert half.volume == pytest.approx(w.volume * 0.125, rel=1e-6)
    turned = apply_pose(w, Pose("flat", 90.0, 1.0))
    assert turned.extents[[1, 0, 2]] == pytest.approx(w.extents, abs=1e-6)
    edge = apply_pose(w, Pose("edge", 0.0, 1.0))
    assert edge.extents[2] > 2 * w.extents[2]  # thin flat wrench now stands up
    with pytest.raises(MeshError, match="unknown rest"):
        apply_pose(w, Pose("hover"))


def test_plate_arranges_objects_without_overlap():
    rng = np.random.default_rng(1)
    meshes = [apply_pose(create_shape(n, 2), Pose(scale=0.5)) for n in ("gear", "mug", "hammer", "wrench")]
    p = plate(meshes, rng)
    assert (p.extents[:2] <= np.array(BED[:2])).all()
    assert p.volume == pytest.approx(sum(m.volume for m in meshes), rel=1e-6)
    boxes = [b.bounds for b in p.split(only_watertight=False)]
    assert len(boxes) >= 4
    # Bounding boxes of different objects never overlap (parts of one object may nest).
    overlaps = sum(all(a[0, k] < b[1, k] - 1e-6 and b[0, k] < a[1, k] - 1e-6 for k in (0, 1))
                   for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert overlaps <= len(boxes) - 4
    with pytest.raises(MeshError, match="do not fit"):
        plate([apply_pose(create_shape("rifle", 0), Pose())] * 5, rng)


def test_procedural_source_is_deterministic_and_unique():
    specs = list(iter_objects("procedural", ["pistol", "mug"], per_class=30, seed=3))
    assert len(specs) == 60 and [s.label for s in specs[:30]] == ["pistol"] * 30
    assert len({s.object_id for s in specs}) == 60 and len({s.seed for s in specs}) == 60
    again = list(iter_objects("procedural", ["pistol", "mug"], per_class=30, seed=3))
    assert [s.seed for s in again] == [s.seed for s in specs]
    other = list(iter_objects("procedural", ["pistol"], per_class=30, seed=4))
    assert not {s.seed for s in other} & {s.seed for s in specs[:30]}
    assert specs[0].kind == "procedural" and specs[0].mesh().is_watertight
    with pytest.raises(DatasetError, match="unknown class"):
        list(iter_objects("procedural", ["ufo"], per_class=1))


def test_folder_source_yields_meshes_and_gcode(tmp_path):
    (tmp_path / "pistol").mkdir()
    (tmp_path / "mug").mkdir()
    create_shape("pistol", 0).export(tmp_path / "pistol" / "a.stl")
    create_shape("pistol", 1).export(tmp_path / "pistol" / "b.obj")
    (tmp_path / "pistol" / "notes.txt").write_text("ignored")
    (tmp_path / "mug" / "m.gcode").write_text(";LAYER:0\nG1 X1 Y1 Z0.2 E1\n")
    specs = list(iter_objects(tmp_path, per_class=None))
    assert [(s.label, s.kind) for s in specs] == [("mug", "gcode"), ("pistol", "mesh"), ("pistol", "mesh")]
    mesh = specs[1].mesh()
    assert mesh.is_watertight and mesh.bounds[0, 2] == pytest.approx(0, abs=1e-6)
    assert mesh.volume == pytest.approx(create_shape("pistol", 0).volume, rel=1e-3)
    with pytest.raises(DatasetError, match="no mesh"):
        specs[0].mesh()
    assert len(list(iter_objects(tmp_path, ["pistol"], per_class=1))) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no mesh or G-code"):
        list(iter_objects(tmp_path, ["empty"]))
    with pytest.raises(DatasetError, match="not a folder"):
        list(iter_objects(tmp_path / "nope"))


def test_object_spec_is_plain_data():
    s = ObjectSpec("gear", "procedural/gear/00001", seed=5)
    assert s.kind == "procedural" and s.mesh().is_watertight


def test_contact_sheet_cli(tmp_path):
    from c3po.cli import main

    out = tmp_path / "sheet.png"
    assert main(["shapes", "sheet", "--out", str(out), "--per-class", "2", "--classes", "pistol,drill"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_loaded_mesh_is_a_trimesh(tmp_path):
    create_shape("gear", 0).export(tmp_path / "g.ply")
    from c3po.mesh import load_mesh

    assert isinstance(load_mesh(tmp_path / "g.ply"), trimesh.Trimesh)


def test_extrude_survives_a_silhouette_that_snapping_splits():
    from shapely.geometry import box

    from c3po.shapes.geometry import extrude

    # A neck 0.0004 mm wide vanishes on the 0.001 mm grid: one Polygon in, two pieces out.
    p = box(0, 0, 10, 10).union(box(10, 5, 20, 5.0004)).union(box(20, 0, 30, 10))
    assert p.geom_type == "Polygon"
    m = extrude(p, 5.0)
    assert m.is_watertight and m.volume == pytest.approx(1000.0, rel=1e-6)
    assert m.bounds[:, 2] == pytest.approx([-2.5, 2.5])
