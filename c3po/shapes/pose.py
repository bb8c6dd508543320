"""Poses as people print: lying flat or on an edge, any angle about Z, scaled; plates.

A pose is applied to a registry mesh (lying flat, min z = 0, XY-centred) and returns a
new mesh with the same contract that fits the bed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c3po.errors import MeshError

BED = (220.0, 220.0, 250.0)  # mm, the default printer volume
#: How the object rests on the bed. flat/flipped: its main face down or up (the registry
#: pose, or turned over); edge: standing on the largest flat side of its convex hull (a
#: stable way to stand a silhouette up); edge_other: on the largest side facing another way.
RESTS = ("flat", "flipped", "edge", "edge_other")


@dataclass(frozen=True)
class Pose:
    """rest: key of RESTS; angle: degrees about Z; scale: uniform factor; tilt: degrees
    the rest pose is then tipped about a horizontal axis ``tilt_dir`` degrees from +x
    (people tilt parts to spare supports or fit the bed)."""

    rest: str = "flat"
    angle: float = 0.0
    scale: float = 1.0
    tilt: float = 0.0
    tilt_dir: float = 0.0

    def key(self) -> str:
        """A short text naming the pose (first field: the rest, or ``tilted``)."""
        base = f"{self.rest}:{self.angle:.1f}:{self.scale:.3f}"
        return f"tilted:{base}:{self.tilt:.1f}:{self.tilt_dir:.1f}" if self.tilt else base


#: the share of each rest that :func:`random_pose` draws (with its default ``p_edge``)
REST_SHARES = {"flat": 0.75 * 0.7, "flipped": 0.75 * 0.3, "edge": 0.125, "edge_other": 0.125}


def random_pose(rng: np.random.Generator, p_edge: float = 0.25, scale=(0.5, 1.5), p_tilt: float = 0.0,
                rest: str | None = None) -> Pose:
    """A pose as people print: mostly flat (or flipped), sometimes on an edge, any angle;
    a share ``p_tilt`` of them tipped 5-90 degrees about a random horizontal axis (drawn
    last, so ``p_tilt=0`` draws exactly the poses it always did). ``rest`` fixes the
    rest; the angle, scale and tilt are those drawn without it."""
    edge, pick = rng.random() < p_edge, rng.random()
    if rest is None:
        rest = ("edge" if pick < 0.5 else "edge_other") if edge else ("flat" if pick < 0.7 else "flipped")
    elif rest not in RESTS:
        raise MeshError(f"unknown rest {rest!r}; use one of {', '.join(RESTS)}")
    pose = Pose(rest, float(rng.uniform(0, 360)), float(rng.uniform(*scale)))
    if p_tilt and rng.random() < p_tilt:
        pose = Pose(rest, pose.angle, pose.scale, float(rng.uniform(5, 90)), float(rng.uniform(0, 180)))
    return pose


def apply_pose(mesh, pose: Pose, bed=BED, margin: float = 5.0):
    """``mesh`` rotated and scaled by ``pose``; min z = 0, XY-centred.

    If the posed object does not fit ``bed`` (x, y, z mm) less ``margin``, its scale is
    reduced until it does (people scale down a model that does not fit their printer).
    """
    import trimesh

    if pose.rest not in RESTS:
        raise MeshError(f"unknown rest {pose.rest!r}; use one of {', '.join(RESTS)}")
    m = mesh.copy()
    rot = trimesh.transformations.rotation_matrix(np.radians(pose.angle), [0, 0, 1]) @ _rest_matrix(m, pose.rest)
    if pose.tilt:
        d = np.radians(pose.tilt_dir)
        rot = trimesh.transformations.rotation_matrix(np.radians(pose.tilt), [np.cos(d), np.sin(d), 0.0]) @ rot
    m.apply_transform(rot)
    room = np.array([bed[0] - 2 * margin, bed[1] - 2 * margin, bed[2] - margin])
    scale = min(pose.scale, float((room / m.extents).min()))
    m.apply_scale(scale)
    lo, hi = m.bounds
    m.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return m


def _rest_matrix(mesh, rest: str) -> np.ndarray:
    """(4, 4) rotation putting ``mesh`` on the bed as ``rest`` says."""
    import trimesh

    if rest == "flat":
        return np.eye(4)
    if rest == "flipped":
        return trimesh.transformations.rotation_matrix(np.pi, [1, 0, 0])
    hull = mesh.convex_hull
    normals, areas = np.asarray(hull.facets_normal), np.asarray(hull.facets_area)
    if len(normals) == 0:  # hull of triangles only, no merged facets
        normals, areas = np.asarray(hull.face_normals), np.asarray(hull.area_faces)
    side = np.flatnonzero(np.abs(normals[:, 2]) < 0.2)
    if len(side) == 0:
        return trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
    side = side[np.argsort(-areas[side])]
    pick = side[0]
    if rest == "edge_other":
        other = [i for i in side[1:] if normals[i] @ normals[side[0]] < np.cos(np.radians(30))]
        pick = other[0] if other else side[0]
    return trimesh.geometry.align_vectors(normals[pick], [0.0, 0.0, -1.0])


def plate(meshes, rng: np.random.Generator, bed=BED, gap: float = 5.0):
    """Several posed meshes arranged on one bed without overlap, as one mesh.

    Shelf packing of XY bounding boxes in random order; the plate is XY-centred.
    Raises MeshError when they do not all fit.
    """
    import trimesh

    order = rng.permutation(len(meshes))
    x = y = row_h = 0.0
    placed = []
    for i in order:
        m = meshes[i]
        w, d = m.extents[:2]
        if x + w > bed[0] - 2 * gap:  # next shelf
            x, y, row_h = 0.0, y + row_h + gap, 0.0
        if x + w > bed[0] - 2 * gap or y + d > bed[1] - 2 * gap:
            raise MeshError(f"plate: {len(meshes)} objects do not fit a {bed[0]:.0f}x{bed[1]:.0f} mm bed; "
                            f"use fewer or smaller objects")
        lo = m.bounds[0]
        placed.append(m.copy().apply_translation([x - lo[0], y - lo[1], -lo[2]]))
        x, row_h = x + w + gap, max(row_h, d)
    out = trimesh.util.concatenate(placed)
    lo, hi = out.bounds
    out.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return out
