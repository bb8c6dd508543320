"""Meshes in: load a file, check it, repair what can be repaired, refuse the rest.

Both the object sources (``c3po.shapes.source``) and the slicer (``c3po.slicer``) take
meshes through here, so a bad file fails the same way everywhere: a :class:`MeshError`
saying what is wrong, with which file, and what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c3po.errors import MeshError

#: Extensions trimesh reads for us.
MESH_EXTS = (".stl", ".obj", ".ply", ".3mf", ".off", ".glb")
MAX_SIZE_MM = 2000.0  # anything larger is in the wrong units or corrupt
MIN_THICK_MM = 0.05


def load_mesh(path: str | Path):
    """Read a mesh file (STL/OBJ/PLY/3MF...) into one ``trimesh.Trimesh`` (scenes are merged)."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise MeshError(f"{path}: no such mesh file")
    if path.suffix.lower() not in MESH_EXTS:
        raise MeshError(f"{path}: unsupported mesh format {path.suffix!r}; use one of {', '.join(MESH_EXTS)}")
    try:
        mesh = trimesh.load(path, force="mesh", process=True)
    except Exception as exc:  # trimesh raises many types on corrupt files
        raise MeshError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc}); re-export it from your CAD tool") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise MeshError(f"{path}: the file holds no triangles; re-export it as a solid mesh")
    return mesh


def prepare_mesh(mesh, name: str = "<mesh>", max_size: float = MAX_SIZE_MM):
    """A printable copy of ``mesh``: checked, repaired if needed, min z = 0, XY centred.

    Raises MeshError for empty, non-finite, huge (> ``max_size`` mm) or flat meshes.
    A mesh that is not watertight is repaired (merge vertices, fill holes, fix normals);
    if it still is not, it is returned as is: the slicer keeps the closed loops it finds.
    """
    import trimesh

    if mesh is None or len(getattr(mesh, "faces", ())) == 0 or len(mesh.vertices) == 0:
        raise MeshError(f"{name}: empty mesh (no triangles); nothing to print")
    v = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(v).all():
        raise MeshError(f"{name}: mesh has NaN or infinite vertex coordinates; the file is corrupt")
    ext = v.max(0) - v.min(0)
    if ext.max() > max_size:
        raise MeshError(f"{name}: mesh is {ext.max():.0f} mm across (limit {max_size:.0f} mm); "
                        f"is it in metres or inches? scale it to millimetres")
    if ext.min() < MIN_THICK_MM:
        raise MeshError(f"{name}: mesh is flat ({ext.round(3).tolist()} mm); it has no volume to print")
    mesh = mesh.copy()
    if not mesh.is_watertight:
        mesh.merge_vertices()
        mesh.update_faces(mesh.nondegenerate_faces())
        mesh.remove_unreferenced_vertices()
        trimesh.repair.fill_holes(mesh)
        trimesh.repair.fix_normals(mesh)
    if len(mesh.faces) == 0:
        raise MeshError(f"{name}: only degenerate triangles; nothing to print")
    if mesh.is_watertight and mesh.volume < 0:  # inside out: every face normal points in
        mesh.invert()
    lo, hi = mesh.bounds
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return mesh
