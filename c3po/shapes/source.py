"""Object sources: where the dataset builder gets its objects.

A source is either ``"procedural"`` (the registry) or a folder laid out as
``ROOT/<class>/*.stl|obj|ply|3mf`` (meshes) and/or ``ROOT/<class>/*.gcode[.gz]`` (already
sliced). Both yield :class:`ObjectSpec` items; the builder does not care which::

    for spec in iter_objects("procedural", per_class=200, seed=0):
        if spec.gcode_path is None:
            mesh = spec.mesh()                       # trimesh.Trimesh, mm, min z = 0
            mesh = apply_pose(mesh, random_pose(rng))
            gcode = slice_mesh(mesh)
        else:
            gcode = spec.gcode_path.read_bytes()     # use as is

``object_id`` is unique and stable ("procedural/pistol/00012", "user/pistol/p1.stl"): split
datasets by it so no object lands in both train and test.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from c3po.errors import DatasetError
from c3po.mesh import MESH_EXTS

GCODE_EXTS = (".gcode", ".gcode.gz", ".gco", ".g")


@dataclass(frozen=True)
class ObjectSpec:
    """One object: its class, id, and either a procedural seed or a file."""

    label: str
    object_id: str
    seed: int | None = None  # procedural: the registry seed
    mesh_path: Path | None = None  # folder source: a mesh file
    gcode_path: Path | None = None  # folder source: a G-code file (no mesh)
    variant: str = ""  # procedural: the registry variant that builds it ("" the class's generator)

    @property
    def kind(self) -> str:
        """'procedural', 'mesh' or 'gcode'."""
        return "gcode" if self.gcode_path else "mesh" if self.mesh_path else "procedural"

    def mesh(self):
        """The object as a ``trimesh.Trimesh`` (not for G-code specs)."""
        if self.gcode_path is not None:
            raise DatasetError(f"{self.object_id}: a G-code object has no mesh; read spec.gcode_path")
        if self.mesh_path is not None:
            from c3po.mesh import load_mesh, prepare_mesh

            return prepare_mesh(load_mesh(self.mesh_path), name=str(self.mesh_path))
        from c3po.shapes.registry import create_shape

        return create_shape(self.label, self.seed, self.variant)


def object_seed(label: str, index: int, seed: int = 0) -> int:
    """Registry seed of the ``index``-th procedural object of ``label`` under ``seed``."""
    return int(np.random.SeedSequence([seed, zlib.crc32(label.encode()), index]).generate_state(1)[0] & 0x7FFFFFFF)


def iter_objects(source: str | Path = "procedural", classes: list[str] | None = None,
                 per_class: int | None = 200, seed: int = 0, assembled: float = 0.0) -> Iterator[ObjectSpec]:
    """ObjectSpecs class by class: ``per_class`` of each (all files if None for folders).

    Procedural: classes default to the registry, ``per_class`` is required; a share
    ``assembled`` of the objects of each class with an ``assembled`` variant is built by it
    (drawn per object from a stream of its own: the other objects stay the same). Folder: classes
    default to its subfolders; files are taken in sorted order, or a seeded sample when
    there are more than ``per_class``.
    """
    if str(source) == "procedural":
        from c3po.shapes.registry import list_shapes, variants

        classes = classes or list_shapes()
        known = set(list_shapes(extra=True))
        if per_class is None:
            raise DatasetError("procedural source: give per_class (it is infinite)")
        for label in classes:
            if label not in known:
                raise DatasetError(f"procedural source: unknown class {label!r}; known: {', '.join(sorted(known))}")
            can = "assembled" in variants(label)
            for i in range(per_class):
                pick = can and np.random.default_rng([seed, zlib.crc32(label.encode()), i, 3]).random() < assembled
                yield ObjectSpec(label, f"procedural/{label}/{i:05d}", seed=object_seed(label, i, seed),
                                 variant="assembled" if pick else "")
        return
    root = Path(source)
    if not root.is_dir():
        raise DatasetError(f"object source {root}: not a folder; give 'procedural' or ROOT/<class>/*.stl|*.gcode")
    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"object source {root}: no class subfolders (expected ROOT/<class>/*.stl or *.gcode)")
    for label in classes:
        files = sorted(p for p in (root / label).glob("*") if p.is_file() and _kind(p))
        if not files:
            raise DatasetError(f"object source {root}: class folder {label!r} has no mesh or G-code files")
        if per_class is not None and len(files) > per_class:
            pick = np.random.default_rng([seed, zlib.crc32(label.encode())]).choice(len(files), per_class, replace=False)
            files = [files[i] for i in sorted(pick)]
        for p in files:
            oid = f"{root.name}/{label}/{p.name}"
            if _kind(p) == "gcode":
                yield ObjectSpec(label, oid, gcode_path=p)
            else:
                yield ObjectSpec(label, oid, mesh_path=p)


def _kind(p: Path) -> str | None:
    name = p.name.lower()
    if name.endswith(GCODE_EXTS):
        return "gcode"
    return "mesh" if p.suffix.lower() in MESH_EXTS else None
