"""The shape registry: ``@register_shape`` adds a generator, ``create_shape`` runs one.

A generator is ``fn(rng: numpy.random.Generator) -> trimesh.Trimesh``; it draws every
proportion from ``rng``, so a (name, seed) pair names exactly one object. It returns the
object lying flat (its main silhouette in the XY plane), watertight, with min z = 0 and
centred on the origin in XY; :func:`create_shape` checks that contract.

A class may have variants (``@register_variant(name, variant)``): another way to build
the same kind of object, with generators of its own (``c3po.shapes.assembled``), so a
model trained on both does not learn one generator's style for the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from c3po.errors import MeshError


@dataclass(frozen=True)
class ShapeEntry:
    """One registered class: its generator and whether it is a weapon."""

    name: str
    fn: Callable
    weapon: bool
    family: str
    default: bool = True  # one of the ten default classes (extras must be asked for)


_REGISTRY: dict[str, ShapeEntry] = {}
_VARIANTS: dict[str, dict[str, Callable]] = {}  # class -> variant -> generator


def register_shape(name: str, weapon: bool = False, default: bool = True) -> Callable:
    """Decorator adding a generator under ``name``; a duplicate name raises ValueError.

    ``default=False`` registers an extra class that :func:`list_shapes` only lists when
    asked (``extra=True``), so the ten default classes stay the presets' classes.
    """

    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"shape {name!r} is already registered (by {_REGISTRY[name].fn.__module__})")
        _REGISTRY[name] = ShapeEntry(name, fn, bool(weapon), fn.__module__.rsplit(".", 1)[-1], default)
        return fn

    return deco


def register_variant(name: str, variant: str) -> Callable:
    """Decorator adding generator ``variant`` of class ``name`` (registered elsewhere)."""

    def deco(fn: Callable) -> Callable:
        if variant in _VARIANTS.setdefault(name, {}):
            raise ValueError(f"shape {name!r} already has a variant {variant!r}")
        _VARIANTS[name][variant] = fn
        return fn

    return deco


def variants(name: str) -> list[str]:
    """The variants of class ``name`` (besides its generator)."""
    return list(_VARIANTS.get(name, {}))


def list_shapes(weapon: bool | None = None, extra: bool = False) -> list[str]:
    """Class names in registration order: the default classes (and extras if ``extra``);
    filtered by ``weapon`` if given."""
    return [n for n, e in _REGISTRY.items() if (weapon is None or e.weapon == weapon) and (e.default or extra)]


def is_weapon(name: str) -> bool:
    """Whether class ``name`` is a weapon class."""
    return _entry(name).weapon


def create_shape(name: str, seed: int = 0, variant: str = ""):
    """The ``seed``-th instance of class ``name`` (built by ``variant`` if given) as a
    watertight ``trimesh.Trimesh``.

    Lying flat, min z = 0, XY bounding box centred on the origin, millimetres.
    """
    entry = _entry(name)
    fn = entry.fn
    if variant:
        if variant not in _VARIANTS.get(name, {}):
            raise MeshError(f"shape {name!r} has no variant {variant!r}; it has: {', '.join(variants(name)) or 'none'}")
        fn = _VARIANTS[name][variant]
    mesh = fn(np.random.default_rng([int(seed), _name_key(name)]))
    if not mesh.is_watertight or len(mesh.faces) == 0:
        raise MeshError(f"shape {name!r} seed {seed}{' ' + variant if variant else ''}: generator returned a "
                        f"non-watertight mesh; this is a bug in {fn.__module__.replace('.', '/')}.py")
    return mesh


def _entry(name: str) -> ShapeEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MeshError(f"unknown shape class {name!r}; known: {', '.join(_REGISTRY)}") from None


def _name_key(name: str) -> int:
    # Stable across processes (unlike hash()): classes with the same seed differ.
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") & 0x7FFFFFFF
