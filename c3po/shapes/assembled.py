"""Assembled variants: the grip-and-body classes built another way.

The class generators (``weapons``, ``tools``) draw one rounded side silhouette per
object, in one family of proportions each. A model trained on them alone learned that
family: guns built from plain blocks and rods, with other proportions, were called drills
and hammers (bench/suite.py ``blocky_prints``). These variants join parts, each a block
(square or rounded corners), a rod (a cylinder along the object, round or faceted) or a
plate, in proportions drawn wider than the generators', with parts present or absent
at random. The look-alikes (drill, hair dryer, stapler, hammer) get variants too, and
``other`` one of the same parts joined as no grip-and-body class is (rows, stacks,
brackets, crosses, ladders, frames), so a model does not learn "assembled means gun".
Non-functional solids, like every shape here: no bore, no mechanism. Coordinates as in
``weapons``: side view in XY (x forward, y up), thickness along Z, centred on z = 0.
"""

from __future__ import annotations

import numpy as np

from c3po.shapes.generic import _holes
from c3po.shapes.geometry import cylinder, extrude, finish, poly, rbox, ring, rotate2d, union
from c3po.shapes.registry import register_variant


def _corner(rng, size: float) -> float:
    """A corner radius: square half the time, else up to a third of ``size``."""
    return 0.0 if rng.random() < 0.5 else float(rng.uniform(0.05, 0.33)) * size


def _block(rng, x0: float, y0: float, x1: float, y1: float, angle: float = 0.0, pivot=None):
    """A rectangle x0..x1, y0..y1 with a random corner, turned ``angle`` degrees
    counter-clockwise about ``pivot`` (default: its top left corner); a part hanging down
    and turned by a negative angle has its foot toward -x (the back)."""
    shape = rbox(x0, y0, x1, y1, _corner(rng, min(abs(x1 - x0), abs(y1 - y0))))
    return rotate2d(shape, angle, origin=pivot or (x0, y1)) if angle else shape


def _rod(rng, x0: float, x1: float, y: float, r: float, thick: float):
    """A part along x from x0 to x1 at height y: a cylinder of radius ``r`` (faceted
    sometimes) or a block 2r high and ``thick`` (or less) wide."""
    if rng.random() < 0.65:
        sections = int(rng.choice([6, 8, 12, 24, 40]))
        return cylinder(r, x1 - x0, center=((x0 + x1) / 2, y, 0), axis="x", sections=sections)
    return extrude(rbox(x0, y - r, x1, y + r, _corner(rng, r)), min(2 * r, thick))


def _guard(rng, x0: float, x1: float, y_top: float, depth: float, wall: float):
    """A trigger guard under ``y_top`` from x0 to x1: a loop (square, rounded or round at
    the bottom) with a trigger inside; its arms reach 3 mm above ``y_top``, into the part
    it hangs from."""
    w = x1 - x0
    r = (0.0, 0.3 * min(w, depth), 0.49 * min(w, depth))[int(rng.integers(3))]
    outer = rbox(x0, y_top - depth, x1, y_top + 3, r).union(rbox(x0, y_top - 1, x1, y_top + 3))
    g = outer.difference(rbox(x0 + wall, y_top - depth + wall, x1 - wall, y_top + 4, r * 0.6))
    t = w * rng.uniform(0.15, 0.3)
    trig = rbox(x0 + w * 0.35, y_top - depth * rng.uniform(0.5, 0.8), x0 + w * 0.35 + t, y_top + 3, t * 0.3)
    return g.union(trig)


@register_variant("pistol", "assembled")
def pistol(rng: np.random.Generator):
    L = rng.uniform(80, 230)  # slide length, mm
    hs, t = L * rng.uniform(0.1, 0.22), L * rng.uniform(0.1, 0.18)
    gx = L * rng.uniform(-0.05, 0.15)  # grip's back, from the slide's rear
    gw, gl = L * rng.uniform(0.15, 0.28), L * rng.uniform(0.3, 0.65)
    top = _block(rng, 0, 0, L, hs)
    if rng.random() < 0.5:  # a frame under the slide, shorter
        top = top.union(_block(rng, L * rng.uniform(0, 0.1), -hs * rng.uniform(0.2, 0.5), L * rng.uniform(0.6, 0.95), 1))
    if rng.random() < 0.5:  # sights
        top = top.union(rbox(L * 0.9, hs - 1, L * 0.95, hs + rng.uniform(2, 5))).union(
            rbox(L * 0.03, hs - 1, L * 0.1, hs + rng.uniform(2, 5)))
    grip = _block(rng, gx, -gl, gx + gw, hs * 0.3)
    if rng.random() < 0.3:  # a long magazine below the grip
        grip = grip.union(_block(rng, gx + gw * 0.15, -gl - L * rng.uniform(0.1, 0.3), gx + gw * 0.85, -gl + 6))
    grip = rotate2d(grip, -rng.uniform(0, 30), origin=(gx + gw / 2, 0))  # raked back
    guard = _guard(rng, gx + gw * 0.8, gx + gw + L * rng.uniform(0.15, 0.28), 0, L * rng.uniform(0.1, 0.17),
                   rng.uniform(2, 5))
    parts = [extrude(top, t), extrude(grip, t * rng.uniform(0.85, 1.3)), extrude(guard, t * rng.uniform(0.4, 0.7))]
    if rng.random() < 0.45:  # a barrel past the slide
        parts.append(_rod(rng, L - 1, L + L * rng.uniform(0.05, 0.45), hs * rng.uniform(0.4, 0.7),
                          hs * rng.uniform(0.15, 0.35), t))
    if rng.random() < 0.35:  # a rail under the front
        parts.append(extrude(rbox(L * 0.55, -hs * rng.uniform(0.2, 0.4), L * rng.uniform(0.85, 1.0), 1), t * 0.6))
    return finish(union(parts))


@register_variant("revolver", "assembled")
def revolver(rng: np.random.Generator):
    lb, rb = rng.uniform(40, 220), rng.uniform(4, 10)  # barrel length, radius
    rd, ld = rb * rng.uniform(1.6, 2.6), rng.uniform(28, 55)  # drum radius, length
    fh = rd * rng.uniform(2.0, 2.8)  # frame height
    yb = 0.0  # barrel axis
    yd = yb - rd * rng.uniform(0.2, 0.7)  # drum axis
    t = rd * rng.uniform(1.0, 1.5)  # frame thickness
    fx = -ld - rng.uniform(8, 16)  # the frame's back
    frame = _block(rng, fx, yd - fh * 0.5, 1, yb + rb)
    parts = [_rod(rng, -1, lb, yb, rb, t),
             cylinder(rd, ld, center=(-ld / 2, yd, 0), axis="x", sections=int(rng.choice([6, 8, 12, 24, 40])))]
    if rng.random() < 0.5:  # a lug under the barrel
        parts.append(extrude(_block(rng, 0, yb - rb * rng.uniform(1.4, 2.0), lb * rng.uniform(0.4, 1.0), yb), rb * 1.2))
    elif rng.random() < 0.5:  # an ejector rod
        parts.append(cylinder(rb * 0.3, lb * 0.4, center=(lb * 0.2, yb - rb * 1.3, 0), axis="x", sections=12))
    xb = -ld - 12
    if rng.random() < 0.7:  # a hammer spur, rooted in the frame's top
        frame = frame.union(poly([[fx + 3, yb + rb - 4], [fx + 12, yb + rb - 4],
                                  [fx - rng.uniform(4, 12), yb + rb + rng.uniform(4, 9)]]))
    gw, gl = rng.uniform(20, 36), rng.uniform(50, 105)
    grip = _block(rng, xb - gw * 0.6, yd - fh * 0.3 - gl, xb + gw * 0.4, yd - fh * 0.2, -rng.uniform(10, 40),
                  (xb, yd - fh * 0.3))
    guard = _guard(rng, xb + 4, xb + rng.uniform(24, 36), yd - fh * 0.45, rng.uniform(14, 24), rng.uniform(2.5, 4.5))
    parts += [extrude(frame, t), extrude(grip, t * rng.uniform(0.9, 1.4)), extrude(guard, t * 0.6)]
    return finish(union(parts))


@register_variant("rifle", "assembled")
def rifle(rng: np.random.Generator):
    lb, lr, hr = rng.uniform(150, 450), rng.uniform(100, 230), rng.uniform(24, 50)  # barrel, receiver
    t = hr * rng.uniform(0.6, 1.0)
    body = _block(rng, -lr, 0, 0.5, hr)
    ls, hs = rng.uniform(150, 330), rng.uniform(45, 95)  # stock length, butt height
    top, low = hr * rng.uniform(0.2, 1.0), hr * rng.uniform(0.0, 0.5)
    stock = poly([[-lr + 2, hr * 0.95], [-lr - ls, top], [-lr - ls, top - hs], [-lr + 2, low]])
    if rng.random() < 0.35:  # a skeleton stock
        hole = poly([[-lr - ls * 0.15, hr * 0.7], [-lr - ls * 0.8, top - hs * 0.25], [-lr - ls * 0.8, top - hs * 0.7],
                     [-lr - ls * 0.15, low + 4]])
        stock = stock.difference(hole)
    parts = [extrude(body.union(stock), t), _rod(rng, 0, lb, hr * rng.uniform(0.4, 0.7), rng.uniform(4, 10), t)]
    if rng.random() < 0.6:  # a handguard over the barrel's rear
        parts.append(extrude(_block(rng, 0, hr * 0.05, lb * rng.uniform(0.25, 0.6), hr * rng.uniform(0.7, 1.0)), t * 0.9))
    if rng.random() < 0.8:  # a magazine, straight or swept
        mx = -lr * rng.uniform(0.3, 0.6)
        parts.append(extrude(_block(rng, mx, -rng.uniform(40, 120), mx + rng.uniform(18, 30), hr * 0.5,
                                    rng.uniform(-5, 30), (mx, 0)), t * 0.7))  # its top inside the receiver
    gx = -lr * rng.uniform(0.75, 0.95)
    if rng.random() < 0.6:  # a pistol grip
        parts.append(extrude(_block(rng, gx, -rng.uniform(40, 75), gx + rng.uniform(16, 26), hr * 0.5,
                                    -rng.uniform(5, 30), (gx, 0)), t * 0.9))
    parts.append(extrude(_guard(rng, gx + 20, gx + rng.uniform(45, 60), 0.5, rng.uniform(14, 22), 3), t * 0.5))
    if rng.random() < 0.5:  # a scope on two mounts
        sr, sy = rng.uniform(7, 15), hr + rng.uniform(16, 30)
        x0, x1 = -lr * rng.uniform(0.6, 0.9), -lr * rng.uniform(0.0, 0.3)
        parts.append(_rod(rng, x0, x1, sy, sr, 2 * sr))
        parts += [extrude(rbox(x0 + (x1 - x0) * f, hr - 1, x0 + (x1 - x0) * f + 8, sy, 0), t * 0.5) for f in (0.2, 0.7)]
    elif rng.random() < 0.3:  # a carry handle
        parts.append(extrude(_block(rng, -lr * 0.8, hr - 1, -lr * 0.2, hr + 14).difference(
            rbox(-lr * 0.7, hr + 2, -lr * 0.3, hr + 9)), t * 0.5))
    return finish(union(parts))


@register_variant("drill", "assembled")
def drill(rng: np.random.Generator):
    lb, rb = rng.uniform(100, 210), rng.uniform(20, 38)  # body length, radius
    parts = [_rod(rng, 0, lb, 0, rb, 2.2 * rb)]
    lc = rng.uniform(20, 50)
    parts.append(_rod(rng, lb - 1, lb + lc, 0, rb * rng.uniform(0.3, 0.55), 2 * rb))  # chuck
    if rng.random() < 0.6:  # a bit
        lbit = rng.uniform(20, 110)
        parts.append(cylinder(rng.uniform(1.5, 5), lbit, center=(lb + lc - 1 + lbit / 2, 0, 0), axis="x", sections=12))
    gx, gw, gl = lb * rng.uniform(0.2, 0.5), rng.uniform(28, 48), rng.uniform(80, 150)
    a = -rng.uniform(-5, 18)  # raked back, mostly
    grip = _block(rng, gx, -gl, gx + gw, 0, a, (gx + gw / 2, 0))
    grip = grip.union(rbox(gx + gw - 2, -rng.uniform(12, 25), gx + gw + rng.uniform(6, 12), 1, 2))  # trigger
    parts.append(extrude(grip, rb * rng.uniform(1.0, 1.4)))
    if rng.random() < 0.85:  # a battery pack under the grip's foot (where the turn took it)
        pw = gw * rng.uniform(1.5, 2.5)
        fx, fy = gx + gw / 2 + gl * np.sin(np.radians(a)), -gl * np.cos(np.radians(a))
        px = fx - pw * rng.uniform(0.4, 0.6)
        parts.append(extrude(_block(rng, px, fy - rng.uniform(20, 45), px + pw, fy + 10), rb * rng.uniform(1.6, 2.4)))
    return finish(union(parts))


@register_variant("hair_dryer", "assembled")
def hair_dryer(rng: np.random.Generator):
    lb, rb = rng.uniform(110, 240), rng.uniform(22, 42)
    parts = [_rod(rng, 0, lb, 0, rb, 2 * rb)]
    if rng.random() < 0.7:  # a wider fan housing at the back
        parts.append(_rod(rng, -rng.uniform(8, 35), 1, 0, rb * rng.uniform(1.05, 1.45), 2.6 * rb))
    parts.append(_rod(rng, lb - 1, lb + rng.uniform(15, 55), 0, rb * rng.uniform(0.45, 0.85), 2 * rb))  # nozzle
    hx, hw, hl = lb * rng.uniform(0.1, 0.45), rng.uniform(26, 46), rng.uniform(90, 170)
    handle = _block(rng, hx, -hl, hx + hw, 0)
    if rng.random() < 0.35:  # a hanging loop
        handle = handle.union(ring(hx + hw / 2, -hl - 4, 9, 5))
    if rng.random() < 0.5:  # a switch
        handle = handle.union(rbox(hx + hw - 3, -hl * 0.45, hx + hw + 4, -hl * 0.25, 1.5))
    handle = rotate2d(handle, -rng.uniform(-12, 25), origin=(hx + hw / 2, 0))
    parts.append(extrude(handle, hw * rng.uniform(0.7, 1.1)))
    return finish(union(parts))


@register_variant("stapler", "assembled")
def stapler(rng: np.random.Generator):
    L, h, w = rng.uniform(100, 210), rng.uniform(8, 22), rng.uniform(26, 48)
    gap, ah = rng.uniform(2, 14), rng.uniform(12, 28)
    lift = rng.uniform(0, 8)
    hinge = rng.uniform(15, 35)
    arm = _block(rng, hinge * 0.3, h + gap, L * rng.uniform(0.88, 1.0), h + gap + ah)
    arm = rotate2d(arm, np.degrees(np.arctan2(lift, L)), origin=(0, h + gap))
    parts = [extrude(_block(rng, 0, 0, L, h), w), extrude(_block(rng, 0, 0, hinge, h + gap + ah * 0.7), w * 0.8),
             extrude(arm, w * rng.uniform(0.65, 0.95))]
    if rng.random() < 0.4:  # a round hinge pin
        parts.append(cylinder(h * 0.4, w * 0.9, center=(hinge * 0.5, h + gap * 0.5, 0), axis="z", sections=24))
    return finish(union(parts))


@register_variant("hammer", "assembled")
def hammer(rng: np.random.Generator):
    lh, wh = rng.uniform(160, 340), rng.uniform(18, 34)  # handle
    hl, hw = rng.uniform(70, 140), rng.uniform(20, 38)  # head length (across), width
    parts = [_rod(rng, 0, lh, 0, wh / 2, wh)]
    head = _block(rng, lh - hw * 0.8, -hl * rng.uniform(0.35, 0.6), lh + hw * 0.2, hl * rng.uniform(0.25, 0.5))
    if rng.random() < 0.5:  # a split claw
        tip, cl = head.bounds[3], rng.uniform(15, 40)
        head = head.union(poly([[lh - hw * 0.8, tip - 2], [lh + hw * 0.2, tip - 2], [lh - hw * 0.1, tip + cl],
                                [lh - hw * 0.6, tip + cl * 0.8]]))
    parts.append(extrude(head, hw * rng.uniform(0.8, 1.1)))
    if rng.random() < 0.5:  # a round face
        parts.append(cylinder(hw * 0.45, hw * 0.5, center=(lh - hw * 0.3, head.bounds[1] - hw * 0.2, 0), axis="y",
                              sections=24))
    return finish(union(parts))


def _arrangement(rng, size: float):
    """A side view (shapely) of parts joined as no grip-and-body class joins them."""
    w = size * rng.uniform(0.08, 0.3)  # a bar's width
    kind = int(rng.integers(6))
    if kind == 0:  # a row of blocks on a rail
        n, gap = int(rng.integers(2, 6)), rng.uniform(0.2, 1.5) * w
        shape = _block(rng, 0, 0, size, w * rng.uniform(0.3, 0.8))
        x = 0.0
        for _ in range(n):
            bw = rng.uniform(0.5, 2.0) * w
            if x + bw > size:
                break
            shape = shape.union(_block(rng, x, 0, x + bw, w * rng.uniform(0.8, 3.0)))
            x += bw + gap
    elif kind == 1:  # a stack of steps
        shape, y, width = None, 0.0, size
        for _ in range(int(rng.integers(2, 5))):
            h = rng.uniform(0.3, 1.2) * w
            off = (size - width) * rng.uniform(0, 1)
            step = _block(rng, off, y, off + width, y + h + 0.5)
            shape = step if shape is None else shape.union(step)
            y, width = y + h, width * rng.uniform(0.4, 0.9)
    elif kind == 2:  # an L, T, U or Z bracket: arms at right angles
        arm = size * rng.uniform(0.3, 1.0)
        shape = _block(rng, 0, 0, size, w)
        form = int(rng.integers(4))
        xs = {0: [0.0], 1: [(size - w) * rng.uniform(0.3, 0.7)], 2: [0.0, size - w], 3: [0.0]}[form]
        for x in xs:
            shape = shape.union(_block(rng, x, -arm if rng.random() < 0.5 else 0, x + w, w if form != 3 else arm))
        if form == 3:  # a Z: the second arm from the other end, the other way
            shape = shape.union(_block(rng, size - w, -arm, size, w))
    elif kind == 3:  # rods crossing at an angle (a stand, a spool holder)
        shape = _block(rng, 0, 0, size, w)
        for _ in range(int(rng.integers(1, 3))):
            x = size * rng.uniform(0.1, 0.9)
            shape = shape.union(rotate2d(_block(rng, x - w / 2, -size * 0.4, x + w / 2, size * 0.4),
                                         rng.uniform(20, 160), origin=(x, w / 2)))
    elif kind == 4:  # a ladder of rungs between two rails
        h = size * rng.uniform(0.2, 0.6)
        shape = _block(rng, 0, 0, size, w).union(_block(rng, 0, h, size, h + w))
        for x in np.linspace(0, size - w, int(rng.integers(2, 7))):
            shape = shape.union(_block(rng, x, 0, x + w, h + w))
    else:  # a frame with a window
        h = size * rng.uniform(0.3, 1.0)
        shape = _block(rng, 0, 0, size, h).difference(rbox(w, w, size - w, h - w, _corner(rng, w)))
    return _holes(shape, rng, int(rng.integers(0, 4)))


@register_variant("other", "assembled")
def other(rng: np.random.Generator):
    """Blocks, rods and plates joined in rows, stacks, brackets, crosses, ladders or frames:
    what c3po's grip-and-body variants are built of, as something else."""
    size = rng.uniform(40, 220)
    shape = _arrangement(rng, size).buffer(0)
    shape = max(getattr(shape, "geoms", [shape]), key=lambda g: g.area)  # the largest connected part
    shape = shape.simplify(0.01)  # joined blocks leave points on straight edges, which earcut mishandles
    x0, y0, x1, y1 = shape.bounds
    t = max(2.0, max(x1 - x0, y1 - y0) * rng.uniform(0.03, 0.3))
    parts = [extrude(shape, t)]
    if rng.random() < 0.4:  # a rod along the base (every arrangement has one along y = 0..w)
        w = min(y1 - y0, size * 0.08)
        parts.append(_rod(rng, x0 + (x1 - x0) * rng.uniform(0, 0.3), x1 - (x1 - x0) * rng.uniform(0, 0.3),
                          w / 2, w * rng.uniform(0.3, 0.6), t))
    return finish(union(parts))
