"""2D silhouettes to watertight solids: the few building blocks every generator uses.

Coordinates: a silhouette lives in the XY plane (x along the object, y up in its side
view); ``extrude`` gives it thickness along Z, centred on z = 0, so parts of different
thickness share one mid-plane and union cleanly. Solids are joined with manifold3d.
"""

from __future__ import annotations

import numpy as np
import shapely
import trimesh
from shapely.affinity import rotate as rotate2d
from shapely.geometry import MultiPolygon, Point, Polygon, box

from c3po.errors import MeshError

__all__ = ["Point", "Polygon", "box", "rotate2d", "rounded", "rbox", "poly", "arc_points", "ring",
           "extrude", "cylinder", "revolve", "union", "difference", "finish"]


def poly(points) -> Polygon:
    """Polygon from (n, 2) points; self-touching input is cleaned with ``buffer(0)``."""
    p = Polygon(np.asarray(points, float))
    return p if p.is_valid else p.buffer(0)


def rounded(shape, r: float):
    """``shape`` with convex and concave corners rounded by radius ``r`` (mm)."""
    if r <= 0:
        return shape
    return shape.buffer(r, quad_segs=4).buffer(-2 * r, quad_segs=4).buffer(r, quad_segs=4)


def rbox(x0: float, y0: float, x1: float, y1: float, r: float = 0.0) -> Polygon:
    """Axis-aligned rectangle with corner radius ``r`` (clipped to fit)."""
    r = min(r, 0.49 * abs(x1 - x0), 0.49 * abs(y1 - y0))
    b = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return b if r <= 0 else b.buffer(-r, quad_segs=4).buffer(r, quad_segs=4)


def arc_points(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 16) -> np.ndarray:
    """(n, 2) points on a circle arc from angle ``a0`` to ``a1`` (degrees)."""
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def ring(cx: float, cy: float, r_out: float, r_in: float) -> Polygon:
    """Annulus centred at (cx, cy)."""
    return Point(cx, cy).buffer(r_out, quad_segs=12).difference(Point(cx, cy).buffer(r_in, quad_segs=12))


def extrude(shape, thickness: float, z0: float | None = None) -> trimesh.Trimesh:
    """Extrude a (Multi)Polygon along +Z by ``thickness``; from ``z0`` or centred on z = 0."""
    shape = shape.buffer(0)
    parts = list(shape.geoms) if isinstance(shape, MultiPolygon) else [shape]
    parts = [shapely.set_precision(p, 1e-3) for p in parts if p.area > 1e-3]
    # Snapping to the grid can pinch a thin neck and split a polygon in two (or leave a
    # collection); extrude each polygonal piece on its own.
    parts = [q for p in parts if not p.is_empty for q in ([p] if p.geom_type == "Polygon" else _polygons(p))]
    if not parts:
        raise MeshError("extrude: empty silhouette; this is a bug in the shape generator")
    z = -thickness / 2 if z0 is None else z0
    meshes = [trimesh.creation.extrude_polygon(p, thickness) for p in parts]
    m = trimesh.util.concatenate(meshes) if len(meshes) > 1 else meshes[0]
    m.apply_translation([0, 0, z])
    return m


def _polygons(geom) -> list[Polygon]:
    """The non-degenerate Polygons in ``geom`` (a Multi-Polygon or GeometryCollection)."""
    parts = shapely.get_parts(geom)
    out = []
    for p in parts:
        if p.geom_type == "Polygon":
            out.append(p)
        elif p.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(_polygons(p))
    return [p for p in out if p.area > 1e-3]


def cylinder(radius: float, length: float, center=(0, 0, 0), axis: str = "z", sections: int = 40) -> trimesh.Trimesh:
    """Solid cylinder of ``radius`` and ``length`` along ``axis`` ('x', 'y' or 'z')."""
    m = trimesh.creation.cylinder(radius=radius, height=length, sections=sections)
    _orient(m, axis)
    m.apply_translation(center)
    return m


def revolve(profile, center=(0, 0, 0), axis: str = "z", sections: int = 48) -> trimesh.Trimesh:
    """Solid of revolution of a (n, 2) (radius, height) profile, from the axis and back.

    The profile is an open polyline whose first and last points have radius 0.
    """
    m = trimesh.creation.revolve(np.asarray(profile, float), sections=sections)
    _orient(m, axis)
    m.apply_translation(center)
    return m


def union(meshes) -> trimesh.Trimesh:
    """Boolean union (manifold3d)."""
    meshes = [m for m in meshes if m is not None]
    return meshes[0] if len(meshes) == 1 else trimesh.boolean.union(meshes, engine="manifold")


def difference(mesh: trimesh.Trimesh, cutters) -> trimesh.Trimesh:
    """``mesh`` minus every mesh in ``cutters`` (manifold3d)."""
    cutters = [c for c in cutters if c is not None]
    return mesh if not cutters else trimesh.boolean.difference([mesh, *cutters], engine="manifold")


def finish(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The registry contract: watertight, min z = 0, XY bounds centred on the origin."""
    if not mesh.is_watertight:  # manifold3d output already is; merging would only hurt it
        mesh.merge_vertices()
        trimesh.repair.fill_holes(mesh)
        trimesh.repair.fix_normals(mesh)
    lo, hi = mesh.bounds
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return mesh


def _orient(m: trimesh.Trimesh, axis: str) -> None:
    if axis == "x":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    elif axis == "y":
        m.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    elif axis != "z":
        raise ValueError(f"axis must be 'x', 'y' or 'z', not {axis!r}")
