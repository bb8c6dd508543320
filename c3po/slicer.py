"""Mesh -> G-code: the built-in slicer, and the dispatch to real slicers.

The built-in slicer is what builds datasets (tens of thousands of objects), so it is
vectorised: sections for all layers at once (``c3po.section``), perimeters and infill as
batched shapely calls, each run once per distinct cross-section (a prism has one), the
solid-layer test as a doubling window of intersections, and the move lines of the G-code
written by a numba kernel (``c3po._emit``). What it prints:

* per layer ``;LAYER:n`` then ``G0 Z``; perimeters inside-out (``;TYPE:WALL-INNER`` then
  ``;TYPE:WALL-OUTER``, outer wall centred ``extrusion_width / 2`` inside the surface);
  solid infill (``;TYPE:SKIN``) on the bottom and top ``solid_layers`` of every surface;
  sparse line infill (``;TYPE:FILL``) elsewhere; lines at +-``infill_angle`` alternating
  by layer on a fixed grid, so sparse lines stack;
* travel as G0, retraction ``retract_length`` before travels longer than
  ``retract_min_travel``; relative (M83) or absolute (M82) E; Marlin flavour;
* the object centred on the bed, first layer at ``first_layer_height``.

``slice_mesh(mesh, slicer="prusa"|"cura")`` hands the same mesh and config to
PrusaSlicer or CuraEngine (``c3po.backends``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from c3po._emit import format_moves
from c3po.errors import MeshError, SlicerError

SLICERS = ("builtin", "prusa", "cura")
#: bumped whenever the built-in slicer's G-code changes, so caches of its output go stale
BUILTIN_REVISION = 2


@dataclass
class SliceConfig:
    """Print settings shared by every backend (mm, mm/s, degrees C)."""

    layer_height: float = 0.2
    first_layer_height: float = 0.2
    extrusion_width: float = 0.45
    perimeters: int = 2
    solid_layers: int = 3  # top and bottom
    infill_density: float = 0.2  # 0..1
    infill_angle: float = 45.0
    skirts: int = 0  # loops around the first layer
    skirt_distance: float = 6.0
    supports: bool = False  # support material under overhangs (PrusaSlicer, CuraEngine)
    tree_supports: bool = False  # with supports: CuraEngine's tree supports (support_structure=tree)
    brim_width: float = 0.0  # mm of brim around the first layer (PrusaSlicer, CuraEngine)
    raft_layers: int = 0  # layers of raft under the object (PrusaSlicer; CuraEngine: a raft when > 0)
    vase: bool = False  # spiral vase mode: one wall, no infill, no top (the built-in slicer's wall climbs in flat layers)
    filament_diameter: float = 1.75
    bed: tuple = (220.0, 220.0, 250.0)
    print_speed: float = 50.0
    first_layer_speed: float = 25.0
    travel_speed: float = 150.0
    retract_length: float = 0.8
    retract_speed: float = 35.0
    retract_min_travel: float = 2.0
    nozzle_temp: int = 210
    bed_temp: int = 60
    relative_e: bool = True
    # what users tune and no training print has (PrusaSlicer, CuraEngine only)
    z_hop: float = 0.0  # mm the nozzle lifts on each retraction
    firmware_retract: bool = False  # G10/G11 instead of E moves
    infill_pattern: str | None = None  # "gyroid", "honeycomb"...: None keeps the slicer's default
    fuzzy_skin: bool = False  # outer wall jittered for a textured surface
    ironing: bool = False  # top surfaces ironed by a second pass with a trickle of flow

    def __post_init__(self):
        if not (0.05 <= self.layer_height <= 1.0 and 0.05 <= self.first_layer_height <= 1.0):
            raise SlicerError(f"layer heights must be 0.05..1 mm, got {self.layer_height}, {self.first_layer_height}")
        if not 0.1 <= self.extrusion_width <= 2.0:
            raise SlicerError(f"extrusion_width must be 0.1..2 mm, got {self.extrusion_width}")
        if not 0.0 <= self.infill_density <= 1.0:
            raise SlicerError(f"infill_density is a fraction 0..1, got {self.infill_density}")
        if self.perimeters < 1:
            raise SlicerError(f"perimeters must be >= 1, got {self.perimeters}")
        if self.tree_supports and not self.supports:
            raise SlicerError("tree_supports is a kind of support: set supports=True too")


def slice_mesh(mesh, slicer: str = "builtin", config: SliceConfig | None = None) -> bytes:
    """G-code bytes for ``mesh`` (a ``trimesh.Trimesh`` or a mesh file path).

    The mesh is checked and repaired (``c3po.mesh.prepare_mesh``) and must fit the bed.
    """
    from c3po.mesh import load_mesh, prepare_mesh

    config = config or SliceConfig()
    name = "<mesh>"
    if isinstance(mesh, (str, bytes)) or hasattr(mesh, "__fspath__"):
        name, mesh = str(mesh), load_mesh(mesh)
    mesh = prepare_mesh(mesh, name=name)
    ext = mesh.extents
    if (ext > np.asarray(config.bed)).any():
        raise MeshError(f"{name}: object is {ext.round(1).tolist()} mm, larger than the "
                        f"{'x'.join(f'{b:.0f}' for b in config.bed)} mm bed; scale it down "
                        f"(c3po.shapes.pose.apply_pose fits objects to the bed)")
    if slicer == "builtin":
        if config.supports or config.brim_width or config.raft_layers:
            raise SlicerError("the built-in slicer makes no supports, brims or rafts; slice with prusa or cura")
        if config.z_hop or config.firmware_retract or config.infill_pattern or config.fuzzy_skin or config.ironing:
            raise SlicerError("the built-in slicer has no z-hop, firmware retraction, infill patterns, fuzzy skin "
                              "or ironing; slice with prusa or cura")
        return _builtin(mesh, config, name)
    if config.tree_supports and slicer != "cura":
        raise SlicerError(f"tree supports are CuraEngine's (PrusaSlicer 2.5 has none); slice with cura, not {slicer}")
    if slicer in ("prusa", "cura"):
        from c3po import backends

        return backends.run(slicer, mesh, config)
    raise SlicerError(f"unknown slicer {slicer!r}; use one of {', '.join(SLICERS)}")


def layer_heights(height: float, config: SliceConfig) -> np.ndarray:
    """(L,) print Z (top) of each layer of an object ``height`` mm tall.

    A layer exists while its mid-plane is inside the object, as PrusaSlicer does.
    """
    h0, h = config.first_layer_height, config.layer_height
    n = 1 + max(0, math.ceil((height - h0 - h / 2) / h - 1e-9)) if height > h0 / 2 else 0
    return h0 + h * np.arange(n)


def _builtin(mesh, cfg: SliceConfig, name: str) -> bytes:
    import shapely

    from c3po.section import sections

    z = layer_heights(float(mesh.bounds[1, 2]), cfg)
    if not len(z):
        raise MeshError(f"{name}: object is {mesh.bounds[1, 2]:.3f} mm tall, under half the "
                        f"{cfg.first_layer_height} mm first layer: no layer to print; scale it up in Z")
    mid = z - np.r_[cfg.first_layer_height, np.full(len(z) - 1, cfg.layer_height)] / 2
    centre = np.asarray(cfg.bed[:2]) / 2
    verts = np.asarray(mesh.vertices, np.float64) + [centre[0], centre[1], 0.0]
    regions = np.array(sections(verts, np.asarray(mesh.faces), mid), dtype=object)
    w, P = cfg.extrusion_width, 1 if cfg.vase else cfg.perimeters
    regions = shapely.simplify(regions, 0.01)
    if shapely.is_empty(regions).all():
        raise MeshError(f"{name}: no closed cross-section at any layer; the mesh is not a solid "
                        f"(repair it, e.g. in PrusaSlicer or Meshmixer)")
    # Offsets and booleans run once per distinct cross-section (a prism has one, however tall).
    ids, distinct = _distinct(regions)
    walls = [_valid(shapely.buffer(distinct, -(w / 2 + k * w), join_style="mitre", mitre_limit=2.0))[ids]
             for k in range(P)]
    # Features thinner than one line (a sight, a rim's tip) get one wall along their outline.
    thin = shapely.is_empty(walls[0]) & ~shapely.is_empty(regions)
    walls[0][thin] = regions[thin]
    inner = _valid(shapely.buffer(distinct, -(P * w - 0.15 * w), join_style="mitre", mitre_limit=2.0))
    # Solid where the part is not covered within solid_layers above and below.
    cover_ids, cover = _window_meet(ids, distinct, cfg.solid_layers)
    cover = _valid(shapely.buffer(cover, -w, join_style="mitre"))  # shrink so skin overlaps a little
    solid = _pairwise(shapely.difference, ids, inner, cover_ids, cover)
    sparse = _pairwise(shapely.intersection, ids, inner, cover_ids, cover)
    k = np.arange(len(z))
    if cfg.vase:  # one wall; solid only the bottom solid_layers layers of the print; no infill, no top
        solid = np.where(k < cfg.solid_layers, inner[ids], shapely.Polygon())
    skin = _hatch(solid, w, np.where(k % 2 == 0, cfg.infill_angle, -cfg.infill_angle), offset=k % 2 * w / 2)
    fill = _hatch(sparse, w / max(cfg.infill_density, 1e-6), np.where(k % 2 == 0, cfg.infill_angle, -cfg.infill_angle)) \
        if cfg.infill_density > 0 and not cfg.vase else [np.zeros((0, 2, 2)) for _ in k]
    return _write(z, _plan(z, walls, skin, fill, regions, cfg), cfg)


def _distinct(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distinct): ``geoms == distinct[ids]``, one entry per distinct geometry
    (equal WKB), the empty geometry last."""
    import shapely

    keys = shapely.to_wkb(geoms)
    empty = shapely.to_wkb(shapely.Polygon())
    index: dict[bytes, int] = {}
    ids = np.array([index.setdefault(k, len(index)) if k != empty else -1 for k in keys.tolist()], np.int64)
    firsts = np.zeros(len(index), np.int64)
    firsts[ids[ids >= 0]] = np.flatnonzero(ids >= 0)
    ids[ids < 0] = len(index)
    return ids, _with_empty(geoms[firsts])


def _with_empty(geoms: np.ndarray) -> np.ndarray:
    import shapely

    out = np.empty(len(geoms) + 1, dtype=object)
    out[:-1], out[-1] = geoms, shapely.Polygon()
    return out


def _meet(a: np.ndarray, b: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The intersection of ``geoms[a[i]]`` and ``geoms[b[i]]`` for every i, computed once
    per distinct pair, as (ids, geoms) of :func:`_distinct` (the last of ``geoms`` is empty)."""
    import shapely

    empty = len(geoms) - 1
    live = (a != empty) & (b != empty)
    pairs, inv = np.unique(np.stack([a[live], b[live]], 1), axis=0, return_inverse=True)
    ids = np.full(len(a), len(pairs), np.int64)
    ids[live] = inv.ravel()
    return ids, _with_empty(_overlay(shapely.intersection, geoms[pairs[:, 0]], geoms[pairs[:, 1]]))


def _pairwise(op, a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """(L,) ``op(ga[a[i]], gb[b[i]])``, computed once per distinct pair."""
    pairs, inv = np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)
    return _overlay(op, ga[pairs[:, 0]], gb[pairs[:, 1]])[inv.ravel()]


def _overlay(op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``op(a, b)`` elementwise (a shapely set operation). A layer's region can be invalid
    (a tipped part's section: a MultiPolygon with one shell nested in another), and GEOS
    may then fail with a TopologyException (2 of 2,200 objects of a dataset build); only
    the pairs that fail are redone, on their repaired inputs (:func:`_valid`), so the
    G-code of every other layer is unchanged."""
    import shapely

    try:
        return op(a, b)
    except shapely.errors.GEOSException:
        out = np.empty(len(a), object)
        for i in range(len(a)):
            try:
                out[i] = op(a[i], b[i])
            except shapely.errors.GEOSException:
                out[i] = op(*_valid(np.array([a[i], b[i]], object)))
        return out


def _window_meet(ids: np.ndarray, geoms: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Per layer k the intersection of layers k - s .. k + s (empty past either end), as
    (ids, geoms): windows of 2, 4, 8... layers are met pairwise, then two overlapping
    windows give any length (intersection is idempotent), so 2s + 1 layers take about
    log2(2s + 1) + 1 intersections per layer instead of 2s."""
    n, size = len(ids), 2 * s + 1
    if s <= 0 or n == 0:
        return ids, geoms
    if size > n:
        return np.zeros(n, np.int64), _with_empty(np.zeros(0, object))
    span = 1
    while span * 2 <= size:  # ids[k] -> intersection of layers k .. k + 2 span - 1
        empty = len(geoms) - 1
        shifted = np.r_[ids[span:], np.full(span, empty)]
        ids, geoms = _meet(ids, shifted, geoms)
        span *= 2
    empty = len(geoms) - 1
    k = np.arange(n)
    lo, hi = k - s, k + s - span + 1  # two windows of ``span`` layers covering k - s .. k + s
    inside = (lo >= 0) & (k + s < n)
    a = np.where(inside, ids[np.clip(lo, 0, n - 1)], empty)
    b = np.where(inside, ids[np.clip(hi, 0, n - 1)], empty)
    return _meet(a, b, geoms)


def _valid(geoms: np.ndarray) -> np.ndarray:
    """``geoms`` with the invalid entries repaired to their polygonal part, in place.

    GEOS can return self-intersecting polygons from an inward mitre buffer (two mitred
    corners overshooting each other across a narrow neck); any later boolean on them
    fails with a TopologyException. Valid entries are left untouched.
    """
    import shapely

    bad = np.flatnonzero(~shapely.is_valid(geoms))
    for i in bad.tolist():
        geoms[i] = _polygonal(shapely.make_valid(geoms[i], method="structure", keep_collapsed=False))
    return geoms


def _polygonal(geom):
    """The (Multi)Polygon part of ``geom`` (drops points and lines of a collection)."""
    import shapely

    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


TYPES = ("SKIRT", "WALL-INNER", "WALL-OUTER", "SKIN", "FILL")


def _plan(z, walls, skin, fill, regions, cfg: SliceConfig):
    """Every path of the print, flattened in print order.

    Returns xy (N, 2) float points, starts (P,) index of each path's first point,
    ptype (P,) index into TYPES, player (P,) layer of each path.
    """
    xy, lens, ptype, player = [], [], [], []

    def add(layer: int, kind: int, pts: np.ndarray, n: np.ndarray):
        xy.append(pts)
        lens.append(n)
        ptype.append(np.full(len(n), kind))
        player.append(np.full(len(n), layer))

    P = len(walls)
    for i in range(len(z)):
        if i == 0 and cfg.skirts:
            hull = regions[0].convex_hull
            rings = [r for k in range(cfg.skirts) for r in _rings(hull.buffer(cfg.skirt_distance + k * cfg.extrusion_width))]
            if rings:
                add(i, 0, np.concatenate(rings), np.array([len(r) for r in rings]))
        for k in range(P - 1, -1, -1):
            rings = _rings(walls[k][i])
            if rings:
                add(i, 2 if k == 0 else 1, np.concatenate(rings), np.array([len(r) for r in rings]))
        for kind, segs in ((3, skin[i]), (4, fill[i])):
            if len(segs):
                add(i, kind, segs.reshape(-1, 2), np.full(len(segs), 2))
    if not xy:
        return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    lens = np.concatenate(lens)
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    return np.concatenate(xy), starts, np.concatenate(ptype), np.concatenate(player)


def _rings(geom) -> list[np.ndarray]:
    """(k, 2) closed point lists of every ring of a (Multi)Polygon, outline first."""
    import shapely

    if geom is None or geom.is_empty:
        return []
    parts = shapely.get_parts(geom)
    rings = shapely.get_rings(parts[shapely.get_type_id(parts) == 3])  # polygons only
    return [np.asarray(r.coords) for r in rings if len(r.coords) >= 4]


def _hatch(areas: np.ndarray, spacing: float, angles: np.ndarray, offset=0.0) -> list[np.ndarray]:
    """Parallel lines ``spacing`` apart at ``angles[i]`` degrees filling ``areas[i]``.

    areas : (L,) shapely geometries; angles : (L,) float degrees; offset : scalar or (L,).
    A scanline fill over all layers at once: every ring edge is cut by the grid lines it
    spans, cuts are sorted along each line and paired inside/outside. Lines lie on a grid
    fixed in bed coordinates, so sparse infill stacks layer on layer.
    Returns per layer an (m, 2, 2) array of segments in zig-zag print order.
    """
    import shapely

    L = len(areas)
    out = [np.zeros((0, 2, 2)) for _ in range(L)]
    parts, part_layer = shapely.get_parts(areas, return_index=True)
    poly = shapely.get_type_id(parts) == 3  # booleans can leave stray lines and points
    parts, part_layer = parts[poly], part_layer[poly]
    if len(parts) == 0:
        return out
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, pt_ring = shapely.get_coordinates(rings, return_index=True)
    lay = part_layer[ring_part[pt_ring]]
    a = np.radians(np.asarray(angles, float))[lay]
    off = np.broadcast_to(np.asarray(offset, float), (L,))[lay]
    s = -xy[:, 0] * np.sin(a) + xy[:, 1] * np.cos(a)  # across the lines
    t = xy[:, 0] * np.cos(a) + xy[:, 1] * np.sin(a)  # along the lines
    same = pt_ring[1:] == pt_ring[:-1]  # edge k joins point k and k+1 of one ring
    sa, sb, ta, tb, el, eo = s[:-1][same], s[1:][same], t[:-1][same], t[1:][same], lay[:-1][same], off[:-1][same]
    j0 = np.ceil((np.minimum(sa, sb) - eo) / spacing).astype(np.int64)
    j1 = np.ceil((np.maximum(sa, sb) - eo) / spacing).astype(np.int64)  # lines j0..j1-1 cross
    n = np.maximum(j1 - j0, 0)
    if n.sum() == 0:
        return out
    e = np.repeat(np.arange(len(n)), n)
    j = np.repeat(j0 - np.cumsum(n) + n, n) + np.arange(n.sum())
    c = j * spacing + eo[e]
    tc = ta[e] + (c - sa[e]) / (sb[e] - sa[e]) * (tb[e] - ta[e])
    lay_c = el[e]
    order = np.lexsort((tc, j, lay_c))
    tc, j, c, lay_c = tc[order], j[order], c[order], lay_c[order]
    # Each (layer, line) has an even number of cuts (closed rings); pair them in order.
    new = np.r_[True, (j[1:] != j[:-1]) | (lay_c[1:] != lay_c[:-1])]
    group = np.cumsum(new) - 1
    even = (np.bincount(group) % 2 == 0)[group]  # guards against a ring that is not closed
    tc, j, c, lay_c = tc[even], j[even], c[even], lay_c[even]
    tc, j, c, lay_c = tc.reshape(-1, 2), j[::2], c[::2], lay_c[::2]
    keep = tc[:, 1] - tc[:, 0] > 0.2 * spacing if spacing < 1 else tc[:, 1] - tc[:, 0] > 0.3
    tc, j, c, lay_c = tc[keep], j[keep], c[keep], lay_c[keep]
    # Zig-zag: odd rows (by line index) run backwards and in reverse order.
    flip = j % 2 == 1
    tc[flip] = tc[flip][:, ::-1]
    key = np.where(flip, -tc[:, 0], tc[:, 0])
    order = np.lexsort((key, j, lay_c))
    tc, c, lay_c = tc[order], c[order], lay_c[order]
    ang = np.radians(np.asarray(angles, float))[lay_c]
    d = np.stack([np.cos(ang), np.sin(ang)], 1)[:, None, :]
    nrm = np.stack([-np.sin(ang), np.cos(ang)], 1)[:, None, :]
    seg = c[:, None, None] * nrm + tc[:, :, None] * d
    bounds = np.searchsorted(lay_c, np.arange(L + 1))
    return [seg[bounds[i]:bounds[i + 1]] for i in range(L)]


def _write(z: np.ndarray, plan, cfg: SliceConfig) -> bytes:
    """Marlin G-code from the flattened plan of :func:`_plan`, formatted from arrays."""
    xy, starts, ptype, player = plan
    N = len(xy)
    area = math.pi * (cfg.filament_diameter / 2) ** 2
    k_layer = cfg.extrusion_width * np.r_[cfg.first_layer_height, np.full(len(z) - 1, cfg.layer_height)] / area
    ftr, fre, r = int(cfg.travel_speed * 60), int(cfg.retract_speed * 60), cfg.retract_length
    first = np.zeros(N, bool)
    first[starts] = True
    pt_layer = np.repeat(player, np.diff(np.r_[starts, N]))
    prev = np.vstack([[0.0, 0.0], xy[:-1]])
    dist = np.hypot(*(xy - prev).T)
    de = np.where(first, 0.0, dist * k_layer[pt_layer])
    e = de if cfg.relative_e else np.cumsum(de)
    retract = first & (dist > cfg.retract_min_travel)
    fpr = (np.where(player == 0, cfg.first_layer_speed, cfg.print_speed) * 60).astype(int)
    speed = np.zeros(N, np.int64)
    p = np.flatnonzero(starts + 1 < N)
    p = p[~first[starts[p] + 1]]  # paths that extrude: their first extrude sets the speed
    speed[starts[p] + 1] = fpr[p]
    eabs = e - de  # absolute E before each point
    back = np.where(retract, -r if cfg.relative_e else eabs - r, np.nan)
    fwd = np.r_[np.nan, np.where(retract, r if cfg.relative_e else eabs, np.nan)[:-1]]
    body, offsets = format_moves(first, xy, e, speed, back, fwd, fre, f" F{ftr}")
    before: dict[int, str] = {}  # layer and type headers, before a move's text
    new_layer = np.r_[True, player[1:] != player[:-1]]
    new_type = new_layer | np.r_[True, ptype[1:] != ptype[:-1]]
    for p in np.flatnonzero(new_type).tolist():
        i = int(starts[p])
        head = f";TYPE:{TYPES[ptype[p]]}\n"
        if new_layer[p]:
            head = f";LAYER:{player[p]}\nG0 Z{z[player[p]]:.3f} F{ftr}\n" + head
        before[i] = head
    view, pieces, done = memoryview(body), [], 0
    for i in sorted(before):
        pieces += [view[offsets[done]:offsets[i]], before[i].encode()]
        done = i
    pieces.append(view[offsets[done]:])
    conf = json.dumps(asdict(cfg))
    head = [";FLAVOR:Marlin", ";Generated with c3po builtin slicer", f";c3po_config: {conf}", f";LAYER_COUNT:{len(z)}",
            f"M140 S{cfg.bed_temp}", f"M104 S{cfg.nozzle_temp}", f"M190 S{cfg.bed_temp}", f"M109 S{cfg.nozzle_temp}",
            "G28", "G90", "M83" if cfg.relative_e else "M82", "G92 E0", "G0 Z5 F3000"]
    e_end = -r if cfg.relative_e else (float(e[-1]) if N else 0.0) - r
    tail = [";TYPE:END", f"G1 E{e_end:.5f} F{fre}", f"G0 Z{min(z[-1] + 10, cfg.bed[2]):.3f} F{ftr}",
            "M104 S0", "M140 S0", "M107", "M84", ""]
    return ("\n".join(head) + "\n").encode() + b"".join(pieces) + "\n".join(tail).encode()
