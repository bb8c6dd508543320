"""Contact sheet: a grid of shaded views, one row per class, for a person to check.

Rendering is a flat-shaded painter's algorithm over the triangles (matplotlib
PolyCollection), which is fast and enough to judge a silhouette.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c3po.shapes.registry import create_shape, is_weapon, list_shapes

#: View directions: (elevation, azimuth) in degrees.
VIEWS = {"iso": (55.0, -75.0), "top": (90.0, -90.0)}


def project(vertices: np.ndarray, faces: np.ndarray, elev: float, azim: float):
    """Screen triangles and shades of a mesh seen from (elev, azim).

    vertices : (n, 3) float; faces : (m, 3) int.
    Returns tris (k, 3, 2) float back-to-front, shade (k,) float in [0, 1].
    """
    e, a = np.radians(elev), np.radians(azim)
    view = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])  # towards the viewer
    right = np.cross([0.0, 0.0, 1.0], view)
    right = right / np.linalg.norm(right) if np.linalg.norm(right) > 1e-9 else np.array([1.0, 0.0, 0.0])
    up = np.cross(view, right)
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    facing = n @ view > 0
    tri, n = tri[facing], n[facing]
    order = np.argsort(tri.mean(axis=1) @ view)
    light = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    shade = 0.35 + 0.65 * np.clip(n[order] @ light, 0, 1)
    t = tri[order]
    return np.stack([t @ right, t @ up], axis=-1), shade


def contact_sheet(out: str | Path, classes: list[str] | None = None, per_class: int = 6, seed: int = 0,
                  view: str = "iso") -> Path:
    """Draw ``per_class`` instances (seeds ``seed..``) of each class into a PNG at ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    classes = classes or list_shapes()
    fig, axes = plt.subplots(len(classes), per_class, figsize=(2.2 * per_class, 2.0 * len(classes)), squeeze=False)
    for i, name in enumerate(classes):
        color = np.array([0.85, 0.25, 0.2]) if is_weapon(name) else np.array([0.25, 0.45, 0.8])
        for j in range(per_class):
            ax = axes[i, j]
            mesh = create_shape(name, seed + j)
            tris, shade = project(np.asarray(mesh.vertices), np.asarray(mesh.faces), *VIEWS[view])
            ax.add_collection(PolyCollection(tris, facecolors=shade[:, None] * color, edgecolors="none"))
            lo, hi = tris.reshape(-1, 2).min(0), tris.reshape(-1, 2).max(0)
            c, r = (lo + hi) / 2, (hi - lo).max() / 2 * 1.05
            ax.set_xlim(c[0] - r, c[0] + r)
            ax.set_ylim(c[1] - r, c[1] + r)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ext = mesh.extents
            ax.set_title(f"{name} #{seed + j}\n{ext[0]:.0f}x{ext[1]:.0f}x{ext[2]:.0f} mm", fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
