"""Datasets on disk: objects -> G-code -> toolpaths -> images, in shards with a manifest.

A build directory holds::

    config.json         the resolved DatasetConfig (a build is reproducible from it)
    shard-00000.npz     uint8 arrays: proj (n, S, S) + proj_id (n,), seq (m, C, C) + seq_id (m,)
    shard-00000.csv     the manifest rows of that shard
    manifest.csv        all rows, in shard order (written when every shard is done)
    errors.csv          objects that could not be sliced or parsed (if any)

Manifest columns: ``image_id, kind, label, class, object_id, pose, slicer, view, layer,
layers, split, shard, row``. ``kind`` is ``proj`` (a projection, ``view`` is top, front
or side) or ``seq`` (a camera frame after ``layer`` of ``layers``; ``view`` names the
camera). ``shard`` and ``row`` locate the image in ``shard-NNNNN.npz``.

The plan is fixed before any work: objects per class, how many images each gives, their
image ids and shards, and the split of each object (splits are by object: an object and
all its poses sit in one split). Each object draws its randomness from its own seed, so
a shard's content depends only on the config: a resumed build (finished shards are kept,
an interrupted shard is redone) equals an uninterrupted one, whatever ``workers`` is.

Poses: the mesh is posed once (rest, angle about Z, scale; ``c3po.shapes.pose``) and
sliced once; further projection poses rotate the sliced toolpath about Z (what slicing
the rotated mesh gives, except the infill direction) and camera sequences move the
camera (azimuth, elevation). Slicing dominates the cost, so this is what makes the full
presets buildable on a laptop.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import json
import math
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c3po.errors import C3POError, DatasetError

SPLITS = ("train", "val", "test")
VIEW_ORDER = ("top", "front", "side")  # = c3po.render.VIEWS, without importing the renderer
#: mm: the lowest height a partly printed training object shows, the detector's earliest look
#: (c3po.detect: no calibrated policy looks below 1 mm)
EARLIEST_MM = 1.0
CANONICAL_JITTER = 15.0  # degrees: turns of a canonical pose about Z (DatasetConfig.canonical)
COLUMNS = ["image_id", "kind", "label", "class", "object_id", "pose", "slicer", "view", "layer", "layers",
           "split", "shard", "row"]
SLICERS = ("builtin", "prusa", "cura")

#: preset name -> DatasetConfig fields
PRESETS = {
    # the 61k study: 61,340 single-view images of 28x28 in 10 classes
    "61k": dict(proj_images=61_340, seq_frames=0, proj_size=28, views="best"),
    # C3PO: 62,200 projections (before printing) + 671,677 camera frames (during printing)
    "c3po": dict(proj_images=62_200, seq_frames=671_677, proj_size=64, cam_size=64, proj_partial=0.5),
}


@dataclass
class DatasetConfig:
    """Everything a build depends on; saved as config.json beside the shards.

    proj_images, seq_frames : totals over all classes (before ``scale``)
    per_class        : objects per class (before ``scale``)
    seq_max_frames   : frames kept per camera sequence (evenly spaced layers, last included)
    split            : train, val, test fractions of each class's objects
    shard_objects    : objects per shard (the unit of resuming and of parallel work)
    camera           : c3po.render.Camera fields shared by every sequence (azimuth and
                       elevation are drawn per sequence from ``cam_azimuth``/``cam_elevation``)
    proj_partial     : fraction of the extra projection poses drawn from a partly printed
                       object (its layers up to a height drawn log-uniform from 1 mm to
                       the top, :func:`partial_layers`: the heights a detector judges;
                       ``layer`` in the manifest), so a model can judge a print while it grows
    canonical        : turn every projection so the footprint's principal axis lies along
                       +x (``c3po.render.canonical_angle``): an object on its edge then
                       shows its silhouette in the front view, whatever its angle on the
                       bed; further poses turn it by up to ``CANONICAL_JITTER`` degrees
    views            : "all": each pose gives its top, front and side views as three images;
                       "best": one image, the view where the object covers the largest box
                       (its silhouette: the top view of a part lying flat, a side view of one
                       on its edge)
    tilt             : share of the objects whose pose is tipped 5-90 degrees about a
                       random horizontal axis (c3po.shapes.pose.random_pose), as people
                       tilt parts on the bed; a model that never saw it misses tilted guns
    vary_settings    : slice each object with its own print settings (random_settings),
                       not the slicer defaults, so a model meets the variety of real prints
    vase             : share of the objects sliced in spiral vase mode (one wall, no
                       infill, no top: a hollow shell over a solid bottom), drawn from a
                       stream of its own so the other objects keep their poses and settings
    assembled        : share of the objects of each class that has an ``assembled`` variant
                       (c3po.shapes.assembled) built by it, parts joined from blocks and rods
                       in proportions of their own: a model that only saw the generators'
                       rounded silhouettes learns their style, and calls a gun built another
                       way a tool
    layers_per_px    : projections draw at most this many layers per pixel of image size
                       (c3po.render.drawn_layers; 0: every layer)
    slice_cache      : folder of sliced G-code reused across builds ("" : none); a cached
                       file is the exact output of the same slicing, so results do not change
    """

    preset: str = "61k"
    source: str = "procedural"
    classes: list[str] = field(default_factory=list)
    slicer: str = "builtin"
    seed: int = 0
    scale: float = 1.0
    per_class: int = 200
    proj_images: int = 61_340
    seq_frames: int = 0
    proj_size: int = 28
    cam_size: int = 64
    canonical: bool = False
    seq_max_frames: int = 96
    cam_azimuth: tuple[float, float] = (0.0, 360.0)
    cam_elevation: tuple[float, float] = (20.0, 40.0)
    camera: dict = field(default_factory=dict)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    shard_objects: int = 20
    proj_partial: float = 0.0
    views: str = "all"
    layers_per_px: float = 1.0
    tilt: float = 0.0
    vary_settings: bool = False
    vase: float = 0.0
    assembled: float = 0.0
    slice_cache: str = ""

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> DatasetConfig:
        """The preset's config with ``overrides`` (None values are ignored)."""
        if preset not in PRESETS:
            raise DatasetError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        kw = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        cfg = cls(preset=preset, **kw)
        if cfg.slicer not in (*SLICERS, "mix"):
            raise DatasetError(f"unknown slicer {cfg.slicer!r}; use builtin, prusa, cura or mix")
        if not 0 < cfg.scale <= 1:
            raise DatasetError(f"--scale {cfg.scale}: give a fraction in (0, 1]")
        if not 0 <= cfg.tilt <= 1:
            raise DatasetError(f"--tilt {cfg.tilt}: give a share of the objects in [0, 1]")
        if not 0 <= cfg.vase <= 1:
            raise DatasetError(f"--vase {cfg.vase}: give a share of the objects in [0, 1]")
        if not 0 <= cfg.assembled <= 1:
            raise DatasetError(f"--assembled {cfg.assembled}: give a share of the objects in [0, 1]")
        if not 0 <= cfg.proj_partial <= 1:
            raise DatasetError(f"--proj-partial {cfg.proj_partial}: give a share of the poses in [0, 1]")
        return cfg

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class Unit:
    """One object of the plan and what it must produce."""

    label: int
    name: str
    object_id: str
    spec: object  # c3po.shapes.source.ObjectSpec
    split: str
    n_proj: int
    proj_id0: int
    n_seq: int
    seq_id0: int


def _quota(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible, the first ones larger."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def plan(cfg: DatasetConfig) -> tuple[list[str], list[list[Unit]]]:
    """Class names and the shards (lists of Units) of a build, fixed before any work."""
    from c3po.shapes.source import iter_objects

    per_class = max(1, round(cfg.per_class * cfg.scale))
    specs = list(iter_objects(cfg.source, classes=cfg.classes or None, per_class=per_class, seed=cfg.seed,
                         assembled=cfg.assembled))
    names = list(dict.fromkeys(s.label for s in specs))
    by_class = [[s for s in specs if s.label == n] for n in names]
    n_proj = _quota(round(cfg.proj_images * cfg.scale), len(names))
    n_seq = _quota(round(cfg.seq_frames * cfg.scale), len(names))
    per_object = []
    for c, objs in enumerate(by_class):
        rng = np.random.default_rng([cfg.seed, zlib.crc32(names[c].encode())])
        order = rng.permutation(len(objs))
        n = len(objs)
        n_val = max(round(cfg.split[1] * n), int(n >= 3 and cfg.split[1] > 0))
        n_test = max(round(cfg.split[2] * n), int(n >= 3 and cfg.split[2] > 0))
        split = np.array(["train"] * n, dtype=object)
        split[order[n - n_val - n_test : n - n_test]] = "val"
        split[order[n - n_test :]] = "test"
        per_object.append(list(zip(objs, split, _quota(n_proj[c], n), _quota(n_seq[c], n))))
    units, proj_id, seq_id = [], 0, round(cfg.proj_images * cfg.scale)
    for i in range(max(len(o) for o in per_object)):  # round robin: every shard has every class
        for c, objs in enumerate(per_object):
            if i < len(objs):
                spec, split, p, s = objs[i]
                units.append(Unit(c, names[c], spec.object_id, spec, str(split), p, proj_id, s, seq_id))
                proj_id += p
                seq_id += s
    k = cfg.shard_objects
    return names, [units[i : i + k] for i in range(0, len(units), k)]


def _toolpath(cfg: DatasetConfig, unit: Unit, rng: np.random.Generator, times: dict):
    """Slice (or read) the unit's object; return (Toolpath, slicer name, pose string)."""
    from c3po.gcode import parse_gcode

    spec = unit.spec
    t0 = time.perf_counter()
    if spec.gcode_path is not None:  # a path: parse_gcode detects gzip
        gcode, slicer, pose = spec.gcode_path, "file", "file"
    else:
        from c3po.shapes.pose import apply_pose, random_pose
        from c3po.slicer import slice_mesh

        slicer = cfg.slicer if cfg.slicer != "mix" else SLICERS[int(rng.integers(len(SLICERS)))]
        p = random_pose(rng, p_tilt=cfg.tilt)
        pose = p.key()
        settings = random_settings(rng) if cfg.vary_settings else None
        if cfg.vase and np.random.default_rng([cfg.seed, zlib.crc32(unit.object_id.encode()), 2]).random() < cfg.vase:
            settings = {**(settings or {}), "vase": True}
        if settings is not None:
            pose += "|" + ";".join(f"{k}={v}" for k, v in settings.items())
        mesh = spec.mesh()
        cached = _cache_path(cfg, mesh, pose, slicer)
        if cached is not None and cached.exists():
            gcode = cached
        else:
            from c3po.slicer import SliceConfig

            config = SliceConfig(**settings) if settings is not None else None
            gcode = slice_mesh(apply_pose(mesh, p), slicer=slicer, config=config)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(gzip.compress(gcode, 1))
                os.replace(tmp, cached)
    t1 = time.perf_counter()
    tp = parse_gcode(gcode, name=unit.object_id).object_moves()  # the object, not its supports or brim
    times["slice"] += t1 - t0
    times["parse"] += time.perf_counter() - t1
    return tp, slicer, pose


def random_settings(rng: np.random.Generator) -> dict:
    """Print settings as users pick them, drawn per object (``vary_settings``): layer
    height 0.12-0.32 mm, extrusion width 0.40-0.60 mm, 1-4 perimeters, 2-5 solid
    layers, 10-40% infill at +-30..60 degrees."""
    h = round(float(rng.uniform(0.12, 0.32)), 2)
    return {"layer_height": h, "first_layer_height": max(h, 0.2),
            "extrusion_width": round(float(rng.uniform(0.4, 0.6)), 2), "perimeters": int(rng.integers(1, 5)),
            "solid_layers": int(rng.integers(2, 6)), "infill_density": round(float(rng.uniform(0.1, 0.4)), 2),
            "infill_angle": round(float(rng.uniform(30, 60)), 1)}


#: held-out setups ``SLICER-FEATURE``: scaffolding that no training print has (the
#: detector must judge the object, not its supports, brim or raft), spiral vase mode
#: (one wall climbing in a spiral, no infill or top: a hollow shell of the object), and
#: layers and lines outside the training range of :func:`random_settings` (``fine``:
#: 0.08 mm layers, as for detailed parts; ``coarse``: 0.36 mm layers of 0.7 mm lines, a
#: draft or a large nozzle's print)
FEATURE_SETTINGS = {"supports": {"supports": True}, "brim": {"brim_width": 6.0}, "raft": {"raft_layers": 3},
                    "vase": {"vase": True}, "fine": {"layer_height": 0.08},
                    "coarse": {"layer_height": 0.36, "first_layer_height": 0.3, "extrusion_width": 0.7},
                    # a user's tuned profile: every option no training print has
                    "tuned": {"z_hop": 0.4, "relative_e": False, "firmware_retract": True, "infill_pattern": "gyroid",
                              "fuzzy_skin": True, "ironing": True}}


def held_out_pose(label: str, index: int, seed: int, setup: str, rest: str | None = None):
    """The pose :func:`slice_held_out` gives the ``index``-th ``label`` of ``seed`` in ``setup``."""
    from c3po.shapes.pose import random_pose

    extra = setup.partition("-")[2]
    if extra not in ("", "varied", "tilted", "plate", *FEATURE_SETTINGS):
        raise DatasetError(f"unknown setup {setup!r}: SLICER, SLICER-varied, SLICER-tilted, SLICER-plate or "
                           f"SLICER-{'|'.join(FEATURE_SETTINGS)}")
    rng = np.random.default_rng([seed, zlib.crc32(label.encode()), index])
    return random_pose(rng, p_tilt=1.0 if extra == "tilted" else 0.0, rest=rest)


def slice_held_out(label: str, index: int, seed: int, setup: str, rest: str | None = None) -> bytes:
    """G-code of the ``index``-th procedural ``label`` of dataset ``seed`` in a random pose,
    sliced by ``setup``: a slicer; ``SLICER-varied`` for that slicer with random print
    settings (:func:`random_settings`); ``SLICER-tilted``, the same pose tipped 5-90
    degrees about a random horizontal axis; ``SLICER-supports``, ``-brim`` or ``-raft``
    with that scaffolding; ``SLICER-vase`` in spiral vase mode; ``SLICER-fine`` and
    ``SLICER-coarse`` with layers thinner or thicker than any training print's;
    ``SLICER-tuned`` (PrusaSlicer, CuraEngine) with z-hop, absolute E, firmware retraction,
    gyroid infill, fuzzy skin and ironing (:data:`FEATURE_SETTINGS`);
    ``SLICER-plate``, the object on one bed with two clear objects of other classes.
    Pose and settings draw from seeds of their own, so the held-out sets (calibration
    prints, the evaluation suite) are reproducible. ``rest`` fixes how the object rests on the bed (``c3po.shapes.pose.RESTS``)."""
    from c3po.shapes.pose import apply_pose
    from c3po.shapes.registry import create_shape
    from c3po.shapes.source import object_seed
    from c3po.slicer import SliceConfig, slice_mesh

    key = [seed, zlib.crc32(label.encode()), index]
    backend, _, extra = setup.partition("-")
    pose = held_out_pose(label, index, seed, setup, rest)
    mesh = apply_pose(create_shape(label, object_seed(label, index, seed)), pose)
    if extra == "plate":
        mesh = _plate_with_clear_objects(mesh, label, index, seed, np.random.default_rng([*key, 2]))
    if extra == "varied":
        config = SliceConfig(**random_settings(np.random.default_rng([*key, 1])))
    elif extra in FEATURE_SETTINGS:
        config = SliceConfig(**FEATURE_SETTINGS[extra])
    else:
        config = None
    return slice_mesh(mesh, slicer=backend, config=config)


def _plate_with_clear_objects(mesh, label: str, index: int, seed: int, rng: np.random.Generator, others: int = 2):
    """``mesh`` on one bed with ``others`` clear objects of other classes in random poses,
    every object scaled down together (by 0.8 at a time) until the plate fits the bed, as
    a user fills a plate."""
    from c3po.errors import MeshError
    from c3po.shapes.pose import apply_pose, plate, random_pose
    from c3po.shapes.registry import create_shape, list_shapes
    from c3po.shapes.source import object_seed

    names = rng.choice([n for n in list_shapes(weapon=False) if n != label], others, replace=False)
    meshes = [mesh] + [apply_pose(create_shape(str(n), object_seed(str(n), 1000 + index, seed)), random_pose(rng))
                       for n in names]
    for _ in range(12):
        try:
            return plate(meshes, rng)
        except MeshError:
            meshes = [m.copy().apply_scale(0.8) for m in meshes]
    raise DatasetError(f"plate of {label} {index}: the objects do not fit the bed even at a tenth of their size")


def _cache_path(cfg: DatasetConfig, mesh, pose: str, slicer: str) -> Path | None:
    """Where the G-code of ``mesh`` posed by ``pose`` is cached: keyed by the mesh's own
    bytes, so a changed generator never reads an old object's G-code."""
    if not cfg.slice_cache:
        return None
    from c3po.slicer import BUILTIN_REVISION

    revision = f"|r{BUILTIN_REVISION}" if slicer == "builtin" else ""  # a real slicer's output never changes
    h = hashlib.sha1(np.ascontiguousarray(mesh.vertices, np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, np.int64).tobytes())
    h.update(f"{pose}|{slicer}{revision}".encode())
    key = h.hexdigest()[:20]
    return Path(cfg.slice_cache) / slicer / f"{key}.gcode.gz"


def partial_layers(rng: np.random.Generator, n_poses: int, layer_z: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Which poses show a partly printed object, and how many layers each pose shows: all
    of them, or for a ``share`` of the poses (never the first) the layers up to a height
    drawn log-uniform from ``EARLIEST_MM`` to the top (``layer_z``: each layer's Z): the
    heights the detector looks at, as often in each doubling of height, so the first
    millimetres of a tall print are seen in training as often as a detector judges them."""
    layer_z = np.asarray(layer_z, float)
    top = float(layer_z[-1])
    lo = min(EARLIEST_MM, top)
    partial = rng.uniform(size=n_poses) < share
    partial[0] = False
    height = lo * (top / lo) ** rng.uniform(0, 1, n_poses)
    shown = np.maximum(np.searchsorted(layer_z, height + 1e-6, side="right"), 1)
    upto = np.where(partial, shown, len(layer_z)).astype(int)
    return partial, upto


def render_unit(cfg: DatasetConfig, unit: Unit, times: dict) -> tuple[np.ndarray, np.ndarray, list[list]]:
    """The projections (n_proj, S, S) and frames (n_seq, C, C) of one object, and their rows."""
    from c3po.render import Camera, camera_frames, project_views

    rng = np.random.default_rng([cfg.seed, zlib.crc32(unit.object_id.encode())])
    tp, slicer, pose = _toolpath(cfg, unit, rng, times)
    t0 = time.perf_counter()
    rows = []
    base = [unit.label, unit.name, unit.object_id]
    proj = np.zeros((unit.n_proj, cfg.proj_size, cfg.proj_size), np.uint8)
    views = ("silhouette",) if cfg.views == "best" else VIEW_ORDER
    n_poses = math.ceil(unit.n_proj / len(views))
    angles = (rng.uniform(0, 360) + 360 * np.arange(n_poses) / max(n_poses, 1)) % 360
    if cfg.canonical:  # the footprint fixes the angle; further poses turn it a little
        angles = rng.uniform(-CANONICAL_JITTER, CANONICAL_JITTER, n_poses)
    angles[0] = 0.0  # the sliced pose itself
    partial, upto = partial_layers(rng, n_poses, tp.layer_z, cfg.proj_partial)
    for k, a in enumerate(angles):
        part = tp.take(0, int(np.searchsorted(tp.layer, upto[k]))) if partial[k] else tp
        images, names = project_views(part, cfg.proj_size, views=views, canonical=cfg.canonical,
                                      rotate_deg=float(a), layers_per_px=cfg.layers_per_px)
        for i, (image, name) in enumerate(zip(images, names)):
            j = len(views) * k + i
            if j < unit.n_proj:
                proj[j] = image
                rows.append([unit.proj_id0 + j, "proj", *base, f"{pose}+rz{a:.1f}", slicer, name,
                             int(upto[k]) if partial[k] else "", tp.n_layers])
    seq = np.zeros((unit.n_seq, cfg.cam_size, cfg.cam_size), np.uint8)
    j = 0
    while j < unit.n_seq and tp.n_layers:
        az, el = rng.uniform(*cfg.cam_azimuth), rng.uniform(*cfg.cam_elevation)
        cam = Camera(**{**cfg.camera, "azimuth_deg": az, "elevation_deg": el})
        frames = camera_frames(tp, cfg.cam_size, cam)
        keep = np.unique(np.round(np.linspace(0, tp.n_layers - 1, min(tp.n_layers, cfg.seq_max_frames))).astype(int))
        for layer in keep[: unit.n_seq - j]:
            seq[j] = frames[layer]
            rows.append([unit.seq_id0 + j, "seq", *base, pose, slicer, f"cam:{az:.1f}:{el:.1f}", int(layer),
                         tp.n_layers])
            j += 1
    times["render"] += time.perf_counter() - t0
    return proj, seq[:j], rows


def build_shard(cfg: DatasetConfig, out: Path, index: int, units: list[Unit]) -> dict:
    """Render and write one shard (atomically: a shard file exists only when complete)."""
    times = dict(slice=0.0, parse=0.0, render=0.0, write=0.0, images=0)
    projs, seqs, rows, errors = [], [], [], []
    for u in units:
        try:
            p, s, r = render_unit(cfg, u, times)
        except Exception as exc:  # noqa: BLE001 - one bad object (or slicer bug) must not end an hour-long build
            kind = "" if isinstance(exc, C3POError) else f"{type(exc).__name__}: "
            errors.append([u.object_id, u.name, f"{kind}{exc}".replace("\n", " ")])
            continue
        projs.append(p)
        seqs.append(s)
        rows += r
    t0 = time.perf_counter()
    proj = np.concatenate(projs) if projs else np.zeros((0, cfg.proj_size, cfg.proj_size), np.uint8)
    seq = np.concatenate(seqs) if seqs else np.zeros((0, cfg.cam_size, cfg.cam_size), np.uint8)
    split_of = {u.object_id: u.split for u in units}
    counters = {"proj": 0, "seq": 0}
    for r in rows:  # add split, shard, row
        r += [split_of[r[4]], index, counters[r[1]]]
        counters[r[1]] += 1
    ids = np.array([r[0] for r in rows], np.int64)
    kinds = np.array([r[1] == "proj" for r in rows], dtype=bool)
    stem = out / f"shard-{index:05d}"
    with open(f"{stem}.csv.tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerows(rows)
        w.writerows([["#error", *e] for e in errors])
    os.replace(f"{stem}.csv.tmp", f"{stem}.csv")
    with open(f"{stem}.npz.tmp", "wb") as f:
        np.savez_compressed(f, proj=proj, proj_id=ids[kinds], seq=seq, seq_id=ids[~kinds])
    os.replace(f"{stem}.npz.tmp", f"{stem}.npz")
    times["write"] += time.perf_counter() - t0
    times["images"] = len(rows)
    return times


def _build_shard_job(job) -> dict:
    return build_shard(*job)


def build(cfg: DatasetConfig, out: str | os.PathLike, workers: int = 1, progress: bool = True) -> dict:
    """Build (or finish) the dataset of ``cfg`` in ``out``; return counts and timings (s)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conf = out / "config.json"
    same = lambda a: {k: v for k, v in a.items() if k != "slice_cache"}  # noqa: E731 - the cache changes no result
    if conf.exists() and same(json.loads(conf.read_text())) != same(cfg.to_json()):
        raise DatasetError(f"{out}: holds a build with other settings (config.json differs); "
                           f"use another --out or delete the folder")
    conf.write_text(json.dumps(cfg.to_json(), indent=2) + "\n")
    t_start = time.perf_counter()
    names, shards = plan(cfg)
    todo = [(cfg, out, i, units) for i, units in enumerate(shards)
            if not ((out / f"shard-{i:05d}.npz").exists() and (out / f"shard-{i:05d}.csv").exists())]
    total = dict(slice=0.0, parse=0.0, render=0.0, write=0.0, images=0)
    bar = _progress(len(shards), len(shards) - len(todo), progress)
    if workers > 1 and len(todo) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for t in pool.imap_unordered(_build_shard_job, todo):
                _add(total, t, bar)
    else:
        for job in todo:
            _add(total, _build_shard_job(job), bar)
    bar.close()
    rows, errors = _merge(out, len(shards))
    total.update(shards=len(shards), shards_built=len(todo), classes=names, errors=len(errors),
                 proj=sum(r[1] == "proj" for r in rows), seq=sum(r[1] == "seq" for r in rows),
                 wall=time.perf_counter() - t_start)
    return total


def _progress(n: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=n, initial=done, unit="shard", desc="dataset", disable=not enabled)


def _add(total: dict, t: dict, bar) -> None:
    for k, v in t.items():
        total[k] += v
    bar.update(1)
    bar.set_postfix(images=total["images"])


def _merge(out: Path, n_shards: int) -> tuple[list[list[str]], list[list[str]]]:
    """Concatenate shard manifests into manifest.csv (and errors.csv)."""
    rows, errors = [], []
    for i in range(n_shards):
        with open(out / f"shard-{i:05d}.csv", newline="") as f:
            for r in csv.reader(f):
                (errors if r[0] == "#error" else rows).append(r[1:] if r[0] == "#error" else r)
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    if errors:
        with open(out / "errors.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["object_id", "class", "error"])
            w.writerows(errors)
    return rows, errors


def read_manifest(root: str | os.PathLike) -> list[dict]:
    """The rows of ``root/manifest.csv`` as dicts (ints where the column is numeric)."""
    path = Path(root) / "manifest.csv"
    if not path.exists():
        raise DatasetError(f"{root}: no manifest.csv; build it with `c3po dataset build --out {root}` "
                           f"(an interrupted build resumes)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("image_id", "label", "layers", "shard", "row"):
            r[k] = int(r[k])
        r["layer"] = int(r["layer"]) if r["layer"] else -1
    return rows


def load_images(root: str | os.PathLike, rows: list[dict]) -> np.ndarray:
    """(n, S, S) uint8 images of manifest ``rows`` (all of one kind), in their order."""
    root = Path(root)
    if not rows:
        return np.zeros((0, 0, 0), np.uint8)
    kinds = {r["kind"] for r in rows}
    if len(kinds) != 1:
        raise DatasetError(f"{root}: load_images takes rows of one kind, got {sorted(kinds)}")
    kind = kinds.pop()
    shard_idx = np.array([r["shard"] for r in rows])
    row_idx = np.array([r["row"] for r in rows])
    out = None
    for s in np.unique(shard_idx):
        with np.load(root / f"shard-{s:05d}.npz") as z:
            arr = z[kind]
        if out is None:
            out = np.empty((len(rows), *arr.shape[1:]), np.uint8)
        sel = shard_idx == s
        out[sel] = arr[row_idx[sel]]
    return out


def load_split(root: str | os.PathLike, split: str | None = None, kind: str = "proj",
               view: str | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Images (n, S, S) uint8, labels (n,) int64 and manifest rows of one split and kind.

    split : train, val, test or None (all); kind : proj or seq; view : top, front, side
    or None (all views).
    """
    rows = [r for r in read_manifest(root) if r["kind"] == kind and (split is None or r["split"] == split)
            and (view is None or r["view"] == view)]
    return load_images(root, rows), np.array([r["label"] for r in rows], np.int64), rows


def preview(root: str | os.PathLike, out: str | os.PathLike, per_class: int = 8, seed: int = 0) -> None:
    """PNG grid: one row per class, ``per_class`` projections then as many camera frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_manifest(root)
    if not rows:
        raise DatasetError(f"{root}: the manifest has no images (see errors.csv); nothing to preview")
    names = list(dict.fromkeys(r["class"] for r in sorted(rows, key=lambda r: r["label"])))
    kinds = [k for k in ("proj", "seq") if any(r["kind"] == k for r in rows)]
    rng = np.random.default_rng(seed)
    cols = per_class * len(kinds)
    fig, axes = plt.subplots(len(names), cols, figsize=(cols * 0.9, len(names) * 0.95 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for c, name in enumerate(names):
        for k, kind in enumerate(kinds):
            pool = [r for r in rows if r["class"] == name and r["kind"] == kind]
            pick = [pool[i] for i in sorted(rng.choice(len(pool), min(per_class, len(pool)), replace=False))]
            for j, (r, img) in enumerate(zip(pick, load_images(root, pick))):
                axes[c, k * per_class + j].imshow(img, cmap="gray", vmin=0, vmax=255)
        axes[c, 0].text(-0.15, 0.5, name, transform=axes[c, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{root}: " + " | ".join(f"{kind} ({sum(r['kind'] == kind for r in rows):,})" for kind in kinds))
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
