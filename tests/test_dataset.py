"""Dataset builder: plans, object-disjoint splits, resumable and deterministic shards."""

import csv
import json
import shutil

import numpy as np
import pytest

from c3po import parse_gcode
from c3po.dataset import DatasetConfig, build, load_split, plan, read_manifest
from c3po.errors import DatasetError
from c3po.render import project
from tests.test_render import prism_gcode

# three classes of G-code objects, four objects each: a folder source needs no slicer
SHAPES = {
    "plate": lambda i: [(0, 0), (30 + 3 * i, 0), (30 + 3 * i, 20), (0, 20)],
    "tower": lambda i: [(0, 0), (8 + i, 0), (8 + i, 8 + i), (0, 8 + i)],
    "bar": lambda i: [(0, 0), (40 + 4 * i, 0), (40 + 4 * i, 5), (0, 5)],
}
LAYERS = {"plate": 3, "tower": 25, "bar": 6}


def prism_objects(root, shapes: dict, layers: dict):
    """A folder source in ``root``: per class of ``shapes``, four prisms of its outlines."""
    for name, outline in shapes.items():
        (root / name).mkdir()
        for i in range(4):
            pts = [(100 + x, 100 + y) for x, y in outline(i)]
            (root / name / f"{name}{i}.gcode").write_text(prism_gcode(pts, layers[name], height=0.3, spacing=1.0))
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return prism_objects(tmp_path_factory.mktemp("objects"), SHAPES, LAYERS)


def config(source, **kw) -> DatasetConfig:
    # 1/1000 of C3PO: 62 projections and 672 frames over 3 classes x 4 objects
    kw = {"scale": 0.001, "per_class": 4000, "shard_objects": 3, "seq_max_frames": 10, **kw}
    return DatasetConfig.from_preset("c3po", source=str(source), proj_size=28, cam_size=32, **kw)


@pytest.fixture(scope="module")
def built(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "full"
    stats = build(config(source), out, workers=1, progress=False)
    return out, stats


def shard_arrays(out):
    arrays = {}
    for p in sorted(out.glob("shard-*.npz")):
        with np.load(p) as z:
            arrays.update({f"{p.name}/{k}": z[k] for k in z.files})
    return arrays


def test_counts_classes_and_files(built):
    out, stats = built
    rows = read_manifest(out)
    assert stats["classes"] == ["bar", "plate", "tower"]
    assert sum(r["kind"] == "proj" for r in rows) == 62 and sum(r["kind"] == "seq" for r in rows) == 672
    per_class = [sum(r["kind"] == "proj" and r["label"] == c for r in rows) for c in range(3)]
    assert per_class == [21, 21, 20]
    assert sorted(r["image_id"] for r in rows) == list(range(62 + 672))
    assert json.loads((out / "config.json").read_text())["proj_images"] == 62_200
    assert len(list(out.glob("shard-*.npz"))) == stats["shards"] == 4  # 12 objects / 3
    assert {r["view"] for r in rows if r["kind"] == "proj"} == {"top", "front", "side"}


def test_splits_are_object_disjoint(built):
    rows = read_manifest(built[0])
    split_of = {}
    for r in rows:
        assert split_of.setdefault(r["object_id"], r["split"]) == r["split"]
    for c in ("bar", "plate", "tower"):  # 4 objects: 2 train, 1 val, 1 test
        splits = sorted(s for o, s in split_of.items() if f"/{c}/" in o)
        assert splits == ["test", "train", "train", "val"]


def test_shards_load_back_to_the_rendered_arrays(built, source):
    out, _ = built
    images, labels, rows = load_split(out, None, "proj")
    assert images.shape == (62, 28, 28) and images.dtype == np.uint8
    first = [i for i, r in enumerate(rows) if r["pose"] == "file+rz0.0"][:3]  # unrotated pose of one object
    r = rows[first[0]]
    name = r["object_id"].split("/", 1)[1]
    np.testing.assert_array_equal(images[first], project(parse_gcode(source / name), 28))
    frames, _, srows = load_split(out, None, "seq")
    assert frames.shape == (672, 32, 32) and frames.max() > 80
    assert all(0 <= s["layer"] < s["layers"] for s in srows)


def test_canonical_build_turns_poses_by_the_footprint_and_a_little_jitter(source, tmp_path):
    out = tmp_path / "canon"
    build(config(source, seq_frames=0, canonical=True), out, workers=1, progress=False)
    assert json.loads((out / "config.json").read_text())["canonical"] is True
    images, _, rows = load_split(out, None, "proj")
    turns = [float(r["pose"].rsplit("+rz", 1)[1]) for r in rows]
    assert max(abs(t) for t in turns) <= 15 and len(set(turns)) > 3
    first = [i for i, r in enumerate(rows) if r["pose"] == "file+rz0.0"][:3]
    name = rows[first[0]]["object_id"].split("/", 1)[1]
    tp = parse_gcode(source / name)
    np.testing.assert_array_equal(images[first], project(tp, 28, canonical=True))
    assert not np.array_equal(images[first], project(tp, 28, rotate_deg=30))


def test_resumed_build_equals_uninterrupted_build(built, source, tmp_path):
    out, _ = built
    part = tmp_path / "resumed"
    build(config(source), part, workers=1, progress=False)
    # an interrupt: shard 1 never finished (its npz is missing, a temp file is left), no manifest yet
    (part / "shard-00001.npz").unlink()
    (part / "shard-00001.npz.tmp").write_bytes(b"partial")
    (part / "manifest.csv").unlink()
    kept = (part / "shard-00002.npz").stat().st_mtime_ns
    stats = build(config(source), part, workers=2, progress=False)
    assert stats["shards_built"] == 1 and (part / "shard-00002.npz").stat().st_mtime_ns == kept
    assert (part / "manifest.csv").read_text() == (out / "manifest.csv").read_text()
    a, b = shard_arrays(out), shard_arrays(part)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_other_seed_other_data_and_config_mismatch_refused(built, source, tmp_path):
    out, _ = built
    with pytest.raises(DatasetError, match="other settings"):
        build(config(source, seed=1), out, progress=False)
    names, shards = plan(config(source, seed=1))
    other = {u.object_id: u.split for s in shards for u in s}
    _, shards0 = plan(config(source))
    assert other != {u.object_id: u.split for s in shards0 for u in s}


def test_bad_preset_settings_are_refused_with_the_flag_named():
    with pytest.raises(DatasetError, match="--scale 0"):
        DatasetConfig.from_preset("c3po", scale=0.0)
    with pytest.raises(DatasetError, match="--tilt 1.5"):
        DatasetConfig.from_preset("c3po", tilt=1.5)
    assert DatasetConfig.from_preset("c3po", tilt=0.35).tilt == 0.35 and DatasetConfig.from_preset("c3po").tilt == 0
    with pytest.raises(DatasetError, match="--vase 2"):
        DatasetConfig.from_preset("c3po", vase=2.0)
    with pytest.raises(DatasetError, match="--assembled -0.5"):
        DatasetConfig.from_preset("c3po", assembled=-0.5)
    with pytest.raises(DatasetError, match="--proj-partial -0.1"):
        DatasetConfig.from_preset("c3po", proj_partial=-0.1)
    assert DatasetConfig.from_preset("c3po", proj_partial=0.75).proj_partial == 0.75
    assert DatasetConfig.from_preset("c3po").proj_partial == 0.5


def test_unreadable_object_is_reported_not_fatal(source, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(source, src)
    (src / "bar" / "bar0.gcode").write_bytes(b"\x00\x01binary")
    out = tmp_path / "ds"
    stats = build(config(src, seq_frames=0), out, progress=False)
    assert stats["errors"] == 1
    with open(out / "errors.csv") as f:
        assert next(csv.DictReader(f))["object_id"].endswith("bar/bar0.gcode")


def test_torch_dataset_wrapper(built):
    torch = pytest.importorskip("torch")
    from c3po.dataset_torch import ShardDataset

    out, _ = built
    ds = ShardDataset(out, "train", "views")
    x, y = ds[0]
    assert x.shape == (3, 28, 28) and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    assert y in (0, 1, 2)
    seq = ShardDataset(out, "val", "seq")
    assert seq[0][0].shape == (1, 32, 32)
    assert len(ShardDataset(out, None, "proj")) == 62


def test_cli_dataset_build_and_preview(source, tmp_path):
    from c3po.cli import main

    out = tmp_path / "cli"
    assert main(["dataset", "build", "--preset", "61k", "--source", str(source), "--out", str(out), "--scale",
                 "0.0005", "--per-class", "6000", "--workers", "1", "--seed", "3", "--quiet"]) == 0
    rows = read_manifest(out)
    assert len(rows) == 31 and {r["kind"] for r in rows} == {"proj"}
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    png = tmp_path / "grid.png"
    assert main(["dataset", "preview", str(out), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["dataset", "preview", str(tmp_path / "nothing"), "--out", str(png)]) == 2


def test_partial_prints_are_drawn_by_height_from_the_first_look_up():
    from c3po.dataset import EARLIEST_MM, partial_layers

    z = 0.2 * np.arange(1, 1001)  # a 200 mm print of 0.2 mm layers
    partial, upto = partial_layers(np.random.default_rng(0), 20_000, z, 0.5)
    assert not partial[0] and abs(partial.mean() - 0.5) < 0.02
    assert (upto[~partial] == 1000).all()
    height = z[upto[partial] - 1]
    assert height.min() >= EARLIEST_MM - 1e-9 and height.max() <= 200
    assert abs(np.median(height) / np.sqrt(EARLIEST_MM * 200) - 1) < 0.05  # log-uniform from 1 mm to 200 mm
    assert 0.11 < (height < 2 * EARLIEST_MM).mean() < 0.15  # the first doubling holds ln 2 / ln 200 = 13%
    # a print lower than the first look shows at least one layer
    _, upto = partial_layers(np.random.default_rng(1), 50, np.array([0.3, 0.6]), 1.0)
    assert upto.min() >= 1 and upto.max() <= 2


def test_slice_cache_is_keyed_by_the_mesh_itself(tmp_path):
    from c3po.dataset import DatasetConfig, _cache_path
    from c3po.shapes import create_shape

    cfg = DatasetConfig(slice_cache=str(tmp_path))
    a, b = create_shape("mug", 0), create_shape("mug", 1)
    assert _cache_path(cfg, a, "flat:0.0:1.000", "builtin") == _cache_path(cfg, create_shape("mug", 0), "flat:0.0:1.000", "builtin")
    # a changed generator (another mesh under the same name and pose) misses the cache
    assert _cache_path(cfg, a, "flat:0.0:1.000", "builtin") != _cache_path(cfg, b, "flat:0.0:1.000", "builtin")
    assert _cache_path(cfg, a, "flat:0.0:1.000", "builtin") != _cache_path(cfg, a, "flat:9.0:1.000", "builtin")
    assert _cache_path(DatasetConfig(), a, "flat:0.0:1.000", "builtin") is None


def test_vase_share_slices_some_objects_as_shells_and_leaves_the_others_alone():
    """``vase``: a share of the objects is sliced in vase mode (one wall, no infill), drawn
    from a stream of its own, so every other object keeps its pose and settings."""
    import zlib

    from c3po.dataset import _toolpath

    def poses(vase):
        cfg = DatasetConfig.from_preset("c3po", classes=["wrench"], per_class=4, scale=1.0, vary_settings=True,
                                        vase=vase)
        units = [u for shard in plan(cfg)[1] for u in shard]
        out = {}
        for u in units:
            times = {"slice": 0.0, "parse": 0.0}
            tp, _, pose = _toolpath(cfg, u, np.random.default_rng([cfg.seed, zlib.crc32(u.object_id.encode())]), times)
            out[u.object_id] = (pose, tp.filament_mm)
        return out

    plain, half = poses(0.0), poses(0.5)
    shells = [k for k, (pose, _) in half.items() if pose.endswith(";vase=True")]
    assert 0 < len(shells) < len(half)
    for k, (pose, mm) in half.items():
        if k in shells:
            assert pose == plain[k][0] + ";vase=True" and mm < 0.8 * plain[k][1]  # a hollow shell
        else:
            assert (pose, mm) == plain[k]


def test_assembled_share_reaches_the_plan():
    cfg = DatasetConfig.from_preset("c3po", classes=["pistol", "mug"], per_class=40, scale=1.0, assembled=0.5)
    units = [u for shard in plan(cfg)[1] for u in shard]
    pistols = [u.spec.variant for u in units if u.name == "pistol"]
    assert 10 <= pistols.count("assembled") <= 30 and pistols.count("") == 40 - pistols.count("assembled")
    assert {u.spec.variant for u in units if u.name == "mug"} == {""}
    assert cfg.to_json()["assembled"] == 0.5


def test_held_out_fine_and_coarse_setups_slice_outside_the_training_layer_range():
    from c3po.dataset import random_settings, slice_held_out

    drawn = [random_settings(np.random.default_rng(i))["layer_height"] for i in range(200)]
    heights = {}
    for setup in ("builtin-fine", "builtin-coarse"):
        tp = parse_gcode(slice_held_out("mug", 0, 777, setup))
        z = np.unique(np.round(tp.layer_z, 3))
        heights[setup] = float(np.median(np.diff(z)))
    assert heights["builtin-fine"] == pytest.approx(0.08, abs=1e-3) and heights["builtin-fine"] < min(drawn)
    assert heights["builtin-coarse"] == pytest.approx(0.36, abs=1e-3) and heights["builtin-coarse"] > max(drawn)
    with pytest.raises(DatasetError, match="SLICER-supports"):
        slice_held_out("mug", 0, 777, "builtin-glossy")


def test_held_out_plate_puts_two_clear_objects_of_other_classes_beside_the_object():
    from c3po.dataset import _plate_with_clear_objects
    from c3po.shapes.pose import BED, Pose, apply_pose
    from c3po.shapes.registry import create_shape

    rng = np.random.default_rng(3)
    pistol = apply_pose(create_shape("pistol", 1), Pose("flat", 0.0, 1.5))
    plated = _plate_with_clear_objects(pistol, "pistol", 0, 777, rng)
    parts = plated.split(only_watertight=False)
    assert len(parts) >= 3 and plated.extents[0] <= BED[0] and plated.extents[1] <= BED[1]
    assert plated.bounds[0][2] == pytest.approx(0.0, abs=1e-6)
    same = _plate_with_clear_objects(pistol, "pistol", 0, 777, np.random.default_rng(3))
    assert np.allclose(same.vertices, plated.vertices)  # reproducible from its seed
