"""Generic parts: the extra clear class ``other`` (not one of the ten defaults).

Brackets, plates, blocks, tubes, knobs, nuts, boxes, CSG models (primitives joined
and cut, as in OpenSCAD designs), organic blobs (figurines, vases, rocks), thin plates
(signs, plaques, coasters, tags: a few layers tall, often with a rim, raised lettering
or holes), frames of nodes and rods (molecule models, trusses, stands), tall parts
printed standing (posts, calibration towers, standing walls) and random unions of
them: what people print most. A detector trained only on the ten classes has never seen a plain
L-bracket and may call its silhouette a pistol; these teach it that plain geometry is
clear. Registered with ``default=False``: ask for it with ``classes=[..., "other"]``.
"""

from __future__ import annotations

import numpy as np
import shapely
import trimesh

from c3po.shapes.geometry import Point, cylinder, difference, extrude, finish, poly, rbox, revolve, union
from c3po.shapes.registry import register_shape


def _letter(rng, w, h, t):
    """An L, T, U, Z or plain bar outline, w x h mm with arms t mm wide."""
    kind = rng.choice(["L", "T", "U", "Z", "bar", "plus"])
    if kind == "L":
        pts = [[0, 0], [w, 0], [w, t], [t, t], [t, h], [0, h]]
    elif kind == "T":
        pts = [[0, h - t], [w, h - t], [w, h], [0, h]]
        return rbox(0, h - t, w, h).union(rbox(w / 2 - t / 2, 0, w / 2 + t / 2, h))
    elif kind == "U":
        pts = [[0, 0], [w, 0], [w, h], [w - t, h], [w - t, t], [t, t], [t, h], [0, h]]
    elif kind == "Z":
        return rbox(0, 0, w / 2 + t / 2, t).union(rbox(w / 2 - t / 2, 0, w / 2 + t / 2, h)).union(
            rbox(w / 2 - t / 2, h - t, w, h))
    elif kind == "plus":
        return rbox(0, h / 2 - t / 2, w, h / 2 + t / 2).union(rbox(w / 2 - t / 2, 0, w / 2 + t / 2, h))
    else:
        pts = [[0, 0], [w, 0], [w, t], [0, t]]
    return poly(pts)


def _punch(shape, c, r):
    """``shape`` with a round hole of radius ``r`` at point ``c``, if it fits inside."""
    return shape.difference(c.buffer(r, 24)) if shape.buffer(-r - 1.5).contains(c) else shape


def _holes(shape, rng, n):
    """Punch up to n round holes inside the outline (only where they fit)."""
    minx, miny, maxx, maxy = shape.bounds
    for _ in range(n):
        r = rng.uniform(1.5, 6)
        shape = _punch(shape, Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy)), r)
    return shape


def _flat_part(rng):
    w, h = rng.uniform(20, 180), rng.uniform(15, 150)
    t = rng.uniform(6, max(7, min(w, h) / 2.2))
    shape = _letter(rng, w, h, t)
    if rng.random() < 0.5:
        shape = shape.buffer(rng.uniform(0.5, 4)).buffer(-rng.uniform(0, 0.5))
    shape = _holes(shape, rng, int(rng.integers(0, 6)))
    return extrude(shape, rng.uniform(3, 40))


def _block(rng):
    x, y, z = rng.uniform(10, 160), rng.uniform(10, 120), rng.uniform(5, 80)
    outline = rbox(-x / 2, -y / 2, x / 2, y / 2, rng.uniform(0, min(x, y) / 4))
    if rng.random() < 0.4:  # an open box or tray
        wall = rng.uniform(1.5, 5)
        base = extrude(outline, z)
        cut = extrude(outline.buffer(-wall), z, z0=rng.uniform(1.5, 5))
        return difference(base, [cut])
    return extrude(_holes(outline, rng, int(rng.integers(0, 4))), z)


def _round(rng):
    r, h = rng.uniform(5, 70), rng.uniform(3, 120)
    kind = rng.choice(["tube", "cone", "knob", "disc"])
    if kind == "tube":
        outer = cylinder(r, h, center=(0, 0, h / 2), sections=int(rng.integers(24, 64)))
        return difference(outer, [cylinder(r * rng.uniform(0.4, 0.85), h + 2, center=(0, 0, h / 2))])
    if kind == "cone":
        top = r * rng.uniform(0.1, 0.9)
        return revolve([[0, 0], [r, 0], [top, h], [0, h]], sections=int(rng.integers(24, 64)))
    if kind == "knob":
        return revolve([[0, 0], [r, 0], [r, h * 0.3], [r * 0.5, h * 0.4], [r * 0.5, h], [0, h]])
    sides = int(rng.integers(3, 13))
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False) + rng.uniform(0, np.pi)
    shape = poly(np.c_[r * np.cos(a), r * np.sin(a)]) if sides < 12 else Point(0, 0).buffer(r, 48)
    if rng.random() < 0.5:
        shape = shape.difference(Point(0, 0).buffer(r * rng.uniform(0.2, 0.6), 32))
    return extrude(shape, min(h, 25))


def _primitive(rng, size):
    """A box, sphere, cylinder or cone about ``size`` mm, rotated at random, at the origin."""
    kind = rng.choice(["box", "sphere", "cylinder", "cone"])
    d = size * rng.uniform(0.3, 1.0, 3)
    if kind == "box":
        m = trimesh.creation.box(d)
    elif kind == "sphere":
        m = trimesh.creation.icosphere(2, d[0] / 2)
    elif kind == "cylinder":
        m = cylinder(d[0] / 2, d[2], sections=int(rng.integers(6, 48)))
    else:
        m = revolve([[0, -d[2] / 2], [d[0] / 2, -d[2] / 2], [d[0] / 2 * rng.uniform(0, 0.7), d[2] / 2], [0, d[2] / 2]])
    m.apply_transform(trimesh.transformations.random_rotation_matrix(rng.random(3)))
    return m


def _csg(rng):
    """Primitives joined and cut, each placed near the last: an OpenSCAD-style model."""
    size = rng.uniform(15, 90)
    solid = _primitive(rng, size)
    for _ in range(int(rng.integers(1, 5))):
        p = _primitive(rng, size * rng.uniform(0.3, 1.0))
        lo, hi = solid.bounds
        p.apply_translation(rng.uniform(lo, hi))
        cut = difference(solid, [p]) if rng.random() < 0.4 else None
        solid = cut if cut is not None and cut.volume > 0.3 * solid.volume else union([solid, p])
    return solid


def _organic(rng):
    """A smooth blob from overlapping ellipsoids: figurines, vases, rocks, fruit."""
    n = int(rng.integers(2, 8))
    size = rng.uniform(15, 70)
    parts, at = [], np.zeros(3)
    for _ in range(n):
        m = trimesh.creation.icosphere(2, 1.0)
        m.apply_scale(size * rng.uniform(0.25, 0.6, 3))
        m.apply_transform(trimesh.transformations.random_rotation_matrix(rng.random(3)))
        at = at + rng.normal(0, size * 0.3, 3)
        m.apply_translation(at)
        parts.append(m)
    return union(parts)


def _outline(rng, size):
    """A plate outline about ``size`` mm long: a stretched polygon or ellipse, a rounded
    rectangle, a wavy (flower) disc or a bracket letter; centred on the origin."""
    kind = rng.choice(["polygon", "rect", "wavy", "letter"])
    aspect = rng.uniform(1.0, 3.0)
    if kind == "polygon":
        n = int(rng.choice([5, 6, 8, 10, 12, 16, 64]))
        a = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, np.pi)
        shape = poly(np.c_[size / 2 * np.cos(a), size / 2 / aspect * np.sin(a)])
    elif kind == "rect":
        w, h = size, size / aspect
        shape = rbox(-w / 2, -h / 2, w / 2, h / 2, rng.uniform(0, h / 2))
    elif kind == "wavy":
        t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
        r = size / 2 * (1 + rng.uniform(0.05, 0.2) * np.cos(int(rng.integers(3, 13)) * t))
        shape = poly(np.c_[r * np.cos(t), r / aspect * np.sin(t)])
    else:
        shape = _letter(rng, size, size / aspect, max(6.0, size / aspect * rng.uniform(0.2, 0.5)))
    c = shape.centroid
    return shapely.affinity.translate(shape, -c.x, -c.y)


def _lettering(rng, shape):
    """Rows of glyph-sized blocks inside ``shape``, as raised or cut text reads in a toolpath."""
    minx, miny, maxx, maxy = shape.bounds
    inner = shape.buffer(-min(maxx - minx, maxy - miny) * 0.12)
    rows, glyphs = int(rng.integers(1, 4)), []
    size = min((maxy - miny) * 0.6 / rows, rng.uniform(4, 16))
    for k in range(rows):
        y = miny + (maxy - miny) * (k + 1) / (rows + 1)
        x = minx + (maxx - minx) * rng.uniform(0.1, 0.3)
        while x < maxx:
            w = size * rng.uniform(0.3, 0.8)
            if rng.random() < 0.85:  # a glyph; else a space between words
                glyphs.append(rbox(x, y - size / 2, x + w, y + size / 2))
            x += w + size * rng.uniform(0.1, 0.3)
    return shapely.unary_union(glyphs).intersection(inner) if glyphs else None


def _plate(rng):
    """A thin plate a few layers tall: sign, plaque, coaster, tag, stencil."""
    shape = _outline(rng, rng.uniform(30, 200))
    t = rng.uniform(1.2, 5)
    if rng.random() < 0.3:  # a hole to hang it by, near one end
        minx, miny, maxx, maxy = shape.bounds
        r = rng.uniform(1.5, 5)
        shape = _punch(shape, Point(minx + 2.5 * r, (miny + maxy) / 2), r)
    if rng.random() < 0.3:  # a stencil or vent: a pattern of holes
        shape = _holes(shape, rng, int(rng.integers(3, 20)))
    parts = [extrude(shape, t, z0=0)]
    top = rng.uniform(0.4, 3)
    if rng.random() < 0.5:  # a raised rim
        rim = shape.difference(shape.buffer(-rng.uniform(1.5, 10)))
        if not rim.is_empty:
            parts.append(extrude(rim, top, z0=t - 0.01))
    text = _lettering(rng, shape) if rng.random() < 0.7 else None
    if text is not None and text.area > 1:
        if rng.random() < 0.75:  # raised lettering
            parts.append(extrude(text, top, z0=t - 0.01))
        elif t > 1.5:  # cut into the face
            return difference(union(parts), [extrude(text, t, z0=t * rng.uniform(0.3, 0.7))])
    return union(parts)


def _node(rng, r, at):
    """A joint of a frame: a ball, a cube or a short cylinder of radius ``r`` at ``at``."""
    kind = rng.choice(["ball", "cube", "cylinder"])
    if kind == "ball":
        m = trimesh.creation.icosphere(2, r)
    elif kind == "cube":
        m = trimesh.creation.box([2 * r] * 3)
    else:
        m = cylinder(r, 2 * r, sections=24)
    m.apply_translation(at)
    return m


def _frame(rng):
    """Nodes joined by rods: molecule models, trusses, stands, tree diagrams."""
    n = int(rng.integers(3, 13))
    span = rng.uniform(30, 150) * np.array([1, rng.uniform(0.1, 1), rng.uniform(0.1, 1)])
    pts = rng.uniform(-0.5, 0.5, (n, 3)) * span
    r_node, r_rod = rng.uniform(2, 12), rng.uniform(0.8, 3)
    parts = [_node(rng, r_node * rng.uniform(0.5, 1), p) for p in pts]
    r_rod = min(r_rod, r_node * 0.45)
    for i in range(1, n):  # a tree: each node to its nearest earlier one, sometimes one more
        d = np.linalg.norm(pts[:i] - pts[i], axis=1)
        parts += [trimesh.creation.cylinder(radius=r_rod, segment=[pts[i], pts[j]], sections=12)
                  for j in np.argsort(d)[: 1 + (rng.random() < 0.3)] if d[j] > 1e-3]
    return union(parts)


def _section(rng, w):
    """A column's cross-section about ``w`` mm across: a (rounded) rectangle, a regular
    polygon or a circle, sometimes hollow."""
    sides = int(rng.integers(3, 14))
    if sides == 4:
        d = w * rng.uniform(0.3, 1.0)
        shape = rbox(-w / 2, -d / 2, w / 2, d / 2, rng.uniform(0, min(w, d) / 4))
    elif sides < 13:
        a = np.linspace(0, 2 * np.pi, sides, endpoint=False) + rng.uniform(0, np.pi)
        shape = poly(np.c_[w / 2 * np.cos(a), w / 2 * np.sin(a)])
    else:
        shape = Point(0, 0).buffer(w / 2, 32)
    if rng.random() < 0.3 and w > 8:
        shape = shape.difference(Point(0, 0).buffer(w / 2 * rng.uniform(0.3, 0.7), 32))
    return shape


def _upright(rng):
    """A tall part printed standing: a post or column (tapering or not, on a foot or
    not), a stepped calibration tower (blocks stacked, some with a shelf sticking out),
    or a standing wall (bookend, stand, divider, plaque on its edge)."""
    h = rng.uniform(25, 180)
    kind = rng.choice(["post", "tower", "wall"])
    if kind == "post":
        w = rng.uniform(5, 40)
        shape = _section(rng, w)
        post = extrude(shape, h, z0=0)
        if rng.random() < 0.4:  # tapering to the top: a spire, an obelisk, a cone
            top = post.vertices[:, 2] > h - 1e-6
            post.vertices[top, :2] *= rng.uniform(0.05, 0.8)
        parts = [post]
        if rng.random() < 0.4:
            parts.append(extrude(shape.convex_hull.buffer(rng.uniform(2, 12)), rng.uniform(1.5, 5), z0=0))
        return union(parts)
    if kind == "tower":
        w, d = rng.uniform(10, 40), rng.uniform(8, 40)
        n = int(rng.integers(3, 11))
        seg = h / n
        parts = [extrude(rbox(-w / 2 - 5, -d / 2 - 5, w / 2 + 5, d / 2 + 5, 2), rng.uniform(1, 3), z0=0)]
        for i in range(n):
            k = rng.uniform(0.85, 1.15)
            parts.append(extrude(rbox(-w * k / 2, -d / 2, w * k / 2, d / 2), seg, z0=i * seg))
            if rng.random() < 0.4:  # an overhang or bridge test sticking out
                out = rng.uniform(4, 15)
                shelf = rbox(w * k / 2 - 1, -d / 4, w * k / 2 + out, d / 4)
                parts.append(extrude(shelf, seg * 0.3, z0=(i + 0.7) * seg))
        return union(parts)
    t, w = rng.uniform(1.5, 8), rng.uniform(20, 140)
    wall = extrude(rbox(-w / 2, -t / 2, w / 2, t / 2), h, z0=0)
    holes = [cylinder(rng.uniform(2, min(w, h) / 5), t + 2, axis="y",
                      center=(rng.uniform(-w / 3, w / 3), 0, rng.uniform(h / 4, h * 0.8)))
             for _ in range(int(rng.integers(0, 3)))]
    wall = difference(wall, holes) if holes else wall
    if rng.random() < 0.5:  # a foot to stand on
        wall = union([wall, extrude(rbox(-w / 2, -t * 3, w / 2, t * 3, 1), rng.uniform(2, 5), z0=0)])
    return wall


@register_shape("other", default=False)
def other(rng: np.random.Generator):
    makers = [_flat_part, _block, _round, _csg, _organic, _plate, _frame, _upright]
    parts = [makers[int(rng.integers(len(makers)))](rng)]
    for _ in range(int(rng.integers(0, 3))):  # a few parts stacked or side by side
        p = makers[int(rng.integers(len(makers)))](rng)
        b = parts[0].bounds
        x, y = rng.uniform(b[0][0], b[1][0]), rng.uniform(b[0][1], b[1][1])
        p.apply_translation([x, y, rng.uniform(0, max(b[1][2], 0.0) * 0.7)])  # a frame may lie below z = 0
        parts.append(p)
    return finish(union(parts))
