"""Procedural object library: a registry of seeded generators, one module per family.

    from c3po.shapes import create_shape, list_shapes, WEAPON_CLASSES
    mesh = create_shape("pistol", seed=7)        # trimesh.Trimesh, mm, lying flat, min z = 0

Importing this package imports trimesh, shapely and manifold3d; ``import c3po`` does not.
"""

from c3po.shapes.registry import ShapeEntry, create_shape, is_weapon, list_shapes, register_shape
# Registration order is the class order: weapons first.
from c3po.shapes import weapons  # noqa: E402,F401,I001
from c3po.shapes import tools  # noqa: E402,F401
from c3po.shapes import household  # noqa: E402,F401
from c3po.shapes import generic  # noqa: E402,F401
from c3po.shapes import assembled  # noqa: E402,F401

#: The default weapon classes (the detector's positive labels).
WEAPON_CLASSES = tuple(list_shapes(weapon=True))
#: The default clear classes, several of them hard negatives (a grip plus a body).
CLEAR_CLASSES = tuple(list_shapes(weapon=False))

__all__ = ["CLEAR_CLASSES", "ShapeEntry", "WEAPON_CLASSES", "create_shape", "is_weapon", "list_shapes",
           "register_shape"]
