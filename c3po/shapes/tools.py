"""Hand tools: drill, hair dryer, stapler, hammer, wrench.

Drill, hair dryer and stapler are hard negatives on purpose: like a pistol they have a
grip and a body, so a detector has to look at more than "an L shape". Coordinates as in
``weapons``: side silhouette in XY (x forward, y up), thickness along Z.
"""

from __future__ import annotations

import numpy as np

from c3po.shapes.geometry import (Point, arc_points, box, cylinder, difference, extrude, finish, poly, rbox,
                                  revolve, rotate2d, rounded, union)
from c3po.shapes.registry import register_shape


@register_shape("drill")
def drill(rng: np.random.Generator):
    bl = rng.uniform(120, 190)  # motor housing length, mm
    bh = bl * rng.uniform(0.3, 0.42)
    t = bh * rng.uniform(0.9, 1.15)
    parts = []
    if rng.random() < 0.5:  # round motor housing
        parts.append(revolve([[0, 0], [bh / 2, 0], [bh / 2, bl - bh * 0.3], [bh * 0.3, bl], [0, bl]],
                             center=(0, bh / 2, 0), axis="x", sections=32))
    else:
        body = rounded(poly([[0, 0], [bl, bh * 0.1], [bl, bh * 0.9], [0, bh]]), bh * rng.uniform(0.15, 0.45))
        parts.append(extrude(body, t))
    gw, gl = bl * rng.uniform(0.24, 0.32), bh * rng.uniform(1.7, 2.4)
    gx = bl * rng.uniform(0.25, 0.45)
    dx = gl * np.tan(np.radians(rng.uniform(-5, 15)))
    grip = rounded(poly([[gx, bh * 0.3], [gx + gw, bh * 0.3], [gx + gw - dx, -gl], [gx - dx, -gl]]), rng.uniform(3, 8))
    parts.append(extrude(grip, t * rng.uniform(0.6, 0.8)))
    trig = rbox(gx + gw - 3, -rng.uniform(12, 18), gx + gw + rng.uniform(6, 10), 2, 2)
    parts.append(extrude(trig, t * 0.3))
    pw, ph = gw * rng.uniform(1.6, 2.3), rng.uniform(22, 38)  # battery pack
    px = gx - dx - (pw - gw) * rng.uniform(0.3, 0.6)
    parts.append(extrude(rbox(px, -gl - ph, px + pw, -gl + 4, rng.uniform(2, 6)), t * rng.uniform(1.0, 1.3)))
    cr, cl = bh * rng.uniform(0.25, 0.36), rng.uniform(30, 55)  # chuck: collar then taper
    collar = rng.uniform(6, 18)
    chuck = [[0, 0], [bh * 0.42, 0], [bh * 0.42, collar], [cr, collar], [cr, collar + cl * 0.6], [cr * 0.6, collar + cl], [0, collar + cl]]
    parts.append(revolve(chuck, center=(bl - 1, bh / 2, 0), axis="x", sections=int(rng.integers(16, 36))))
    if rng.random() < 0.4:  # a short bit
        parts.append(cylinder(rng.uniform(2, 4), rng.uniform(15, 40), center=(bl + collar + cl + 10, bh / 2, 0), axis="x", sections=12))
    body = union(parts)
    if rng.random() < 0.7:  # vent slots at the back of the housing
        n = int(rng.integers(3, 7))
        cuts = [extrude(box(bl * 0.08 + 5 * k, bh * 0.3, bl * 0.08 + 5 * k + 2, bh * 0.7), 2, z0=s * t / 2 - 1)
                for k in range(n) for s in (-1, 1)]
        body = difference(body, cuts)
    return finish(body)


@register_shape("hair_dryer")
def hair_dryer(rng: np.random.Generator):
    R = rng.uniform(25, 40)  # barrel radius, mm
    bl = rng.uniform(110, 180)
    nr = R * rng.uniform(0.5, 0.75)  # nozzle radius
    nl = rng.uniform(20, 45)
    rear = R * rng.uniform(1.0, 1.25)
    prof = [[0, 0], [rear, 0], [rear, 8], [R, 12], [R, bl], [nr, bl + nl * 0.6], [nr, bl + nl], [0, bl + nl]]
    parts = [revolve(prof, center=(0, 0, 0), axis="x", sections=int(rng.integers(24, 48)))]
    hw, hl = R * rng.uniform(0.8, 1.1), rng.uniform(85, 130)
    hx = bl * rng.uniform(0.2, 0.45)
    a = rng.uniform(-5, 20)
    handle = rotate2d(rbox(hx - hw / 2, -hl, hx + hw / 2, 0, hw * rng.uniform(0.3, 0.5)), a, origin=(hx, 0))
    if rng.random() < 0.4:  # hanging loop at the end of the handle
        tip = np.array([hx + hl * np.sin(np.radians(a)), -hl * np.cos(np.radians(a))])
        loop = Point(*tip).buffer(9).difference(Point(*tip).buffer(5))
        handle = handle.union(loop)
    th = hw * rng.uniform(0.7, 1.0)
    parts.append(extrude(handle, th))
    if rng.random() < 0.7:  # switch
        parts.append(extrude(rbox(hx + hw / 2 - 4, -hl * 0.45, hx + hw / 2 + 3, -hl * 0.25, 2), th * 0.5))
    if rng.random() < 0.4:  # flat concentrator nozzle
        parts.append(extrude(rbox(bl + nl - 2, -nr * 0.35, bl + nl + rng.uniform(15, 30), nr * 0.35, 2), nr * 1.8))
    body = union(parts)
    if rng.random() < 0.6:  # intake grille: radial slots in the back
        cuts = [extrude(rotate2d(box(-2, -rear * 0.7, 3, -rear * 0.15), ang, origin=(0, 0)), 2, z0=-1)
                for ang in np.linspace(0, 360, int(rng.integers(6, 12)), endpoint=False)]
        cuts = [c.apply_transform(np.array([[0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1]], float)) for c in cuts]
        body = difference(body, cuts)
    return finish(body)


@register_shape("stapler")
def stapler(rng: np.random.Generator):
    L = rng.uniform(110, 190)
    bt = rng.uniform(6, 12)  # base plate height
    gap = rng.uniform(4, 14)
    ah = rng.uniform(14, 26)  # arm height
    W = rng.uniform(28, 45)
    base = rbox(0, 0, L, bt, rng.uniform(1, 4))
    anvil = rbox(L * 0.8, bt - 1, L * 0.95, bt + 2, 1)
    hinge = rbox(0, 0, rng.uniform(18, 30), bt + gap + ah * 0.6, 3)
    lift = rng.uniform(0, 10)  # arm opened a little
    top = bt + gap
    arm = poly(np.vstack([[[4, top], [L * 0.97, top + lift]],
                          arc_points(L * 0.97 - ah * 0.5, top + lift + ah * 0.5, ah * 0.5, 0, 90, 8),
                          [[L * 0.35, top + ah * rng.uniform(1.0, 1.3)], [4, top + ah]]]))
    arm = rounded(arm, rng.uniform(1, 5))
    parts = [extrude(base.union(anvil), W), extrude(hinge, W * 0.7), extrude(arm, W * rng.uniform(0.7, 0.95))]
    if rng.random() < 0.5:  # finger pad on top of the arm
        parts.append(extrude(rbox(L * 0.6, top + ah * 0.8 + lift * 0.6, L * 0.85, top + ah + lift * 0.8 + 3, 3), W * 0.6))
    body = union(parts)
    if rng.random() < 0.5:  # rubber feet recesses underneath
        body = difference(body, [cylinder(4, 2, center=(x, 0, z), axis="y") for x in (8, L - 8) for z in (-W / 3, W / 3)])
    return finish(body)


@register_shape("hammer")
def hammer(rng: np.random.Generator):
    Lh = rng.uniform(150, 290)  # handle length, mm
    w0, w1 = rng.uniform(18, 28), rng.uniform(22, 34)
    handle = rounded(poly([[0, -w0 / 2], [Lh, -w1 / 2], [Lh, w1 / 2], [0, w0 / 2]]), rng.uniform(2, 6))
    hw = rng.uniform(20, 30)  # head width along x
    face_len, claw_len = rng.uniform(35, 60), rng.uniform(40, 75)
    hx = Lh - hw * 0.6
    head = rbox(hx, -face_len, hx + hw, claw_len * 0.35, 2)
    fr = hw * rng.uniform(0.55, 0.7)  # face: a round boss
    head = head.union(rbox(hx + hw / 2 - fr, -face_len - 6, hx + hw / 2 + fr, -face_len + 4, 2))
    if rng.random() < 0.6:  # curved claw
        c = (hx - claw_len * 0.2, claw_len * 0.3)
        claw = poly(np.vstack([arc_points(*c, claw_len * 0.2 + hw, -10, 60, 10),
                               arc_points(*c, claw_len * 0.2 + 2, 60, -10, 10)]))
        claw = claw.difference(poly([[hx + hw * 0.45, claw_len * 0.3], [hx + hw * 0.55, claw_len * 0.3],
                                     [hx + hw * 0.6, claw_len * 1.2], [hx + hw * 0.4, claw_len * 1.2]]))
    else:  # ball peen
        claw = Point(hx + hw / 2, claw_len * 0.55).buffer(hw * 0.55).union(box(hx + hw * 0.3, 0, hx + hw * 0.7, claw_len * 0.5))
    head = head.union(claw)
    th = rng.uniform(16, 24)
    parts = [extrude(handle, th), extrude(head, th * rng.uniform(1.1, 1.4))]
    if rng.random() < 0.6:  # rubber grip sleeve with an end knob
        gl = Lh * rng.uniform(0.3, 0.45)
        parts.append(extrude(rounded(poly([[-4, -w0 / 2 - 3], [gl, -w0 / 2 - 1], [gl, w0 / 2 + 1], [-4, w0 / 2 + 3]]), 3), th * 1.15))
    body = union(parts)
    if rng.random() < 0.4:  # hanging hole
        body = difference(body, [cylinder(rng.uniform(3, 5), th * 2, center=(Lh * 0.06 + 6, 0, 0))])
    return finish(body)


@register_shape("wrench")
def wrench(rng: np.random.Generator):
    L = rng.uniform(110, 220)
    w = rng.uniform(12, 24)
    t = rng.uniform(4, 9)
    shape = rbox(0, -w / 2, L, w / 2, w * 0.3)
    nut = w * rng.uniform(0.7, 1.0)  # across flats, open end

    def open_end(x, s, ang):
        jaw = Point(x, 0).buffer(s * 1.25, quad_segs=10)
        slot = rbox(x - s / 2, -s / 2, x + s * 3, s / 2, 0).union(Point(x - s / 2, 0).buffer(s / 2))
        return jaw, rotate2d(slot, ang, origin=(x, 0)) if x > L / 2 else rotate2d(slot, 180 + ang, origin=(x, 0))

    jaw, slot = open_end(L, nut, rng.uniform(10, 20))
    shape = shape.union(jaw)
    if rng.random() < 0.5:  # combination wrench: ring end with a hex/12-point hole
        s2 = nut * rng.uniform(0.9, 1.1)
        ring_end = Point(0, 0).buffer(s2 * 0.9, quad_segs=10)
        n = 6 if rng.random() < 0.5 else 12
        hole = poly(arc_points(0, 0, s2 * 0.55, 0, 360 - 360 / n, n))
        shape = shape.union(ring_end).difference(hole).difference(slot)
    else:  # double open end, other size
        jaw2, slot2 = open_end(0, nut * rng.uniform(0.75, 0.95), rng.uniform(10, 20))
        shape = shape.union(jaw2).difference(slot).difference(slot2)
    body = extrude(shape, t)
    cuts = []
    if rng.random() < 0.5:  # recessed panel on both faces of the handle
        for z in (t / 2, -t / 2):
            cuts.append(extrude(rbox(L * 0.25, -w * 0.25, L * 0.75, w * 0.25, w * 0.2), 1.2, z0=z - 0.6))
    if rng.random() < 0.3:
        cuts.append(cylinder(w * 0.2, t * 2, center=(L * 0.5, 0, 0)))
    return finish(difference(body, cuts))
