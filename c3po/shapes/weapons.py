"""Weapon classes: pistol, revolver, rifle.

These are non-functional silhouettes of our own design, solid throughout: no bore, no
mechanism, no real firearm's dimensions. They only need to read as "a gun shape" to a
person and to a classifier. Each is a side silhouette (x forward, y up) extruded along
Z, with a few thicker or rounder parts unioned on.
"""

from __future__ import annotations

import numpy as np

from c3po.shapes.geometry import (arc_points, box, cylinder, difference, extrude, finish, poly, rbox,
                                  ring, rounded, union)
from c3po.shapes.registry import register_shape


def _guard(rng, x0: float, y_top: float, length: float, depth: float, wall: float):
    """Trigger guard: a rounded loop hanging below ``y_top`` from ``x0`` to ``x0+length``."""
    outer = rbox(x0, y_top - depth, x0 + length, y_top + wall, r=depth * rng.uniform(0.4, 0.7))
    inner = rbox(x0 + wall, y_top - depth + wall, x0 + length - wall, y_top + wall, r=depth * 0.35)
    return outer.difference(inner)


def _trigger(x: float, y_top: float, depth: float):
    """A curved trigger blade hanging from ``(x, y_top)``."""
    pts = np.vstack([[[x - 2, y_top + 1]], arc_points(x + depth * 0.9, y_top - depth * 0.1, depth * 0.9, 180, 235, 8),
                     arc_points(x + depth * 0.9, y_top - depth * 0.1, depth * 0.9 - 3, 235, 180, 8), [[x + 1, y_top + 1]]])
    return poly(pts)


@register_shape("pistol", weapon=True)
def pistol(rng: np.random.Generator):
    L = rng.uniform(130, 205)  # slide length, mm
    hs = L * rng.uniform(0.13, 0.19)
    hf = hs * rng.uniform(0.3, 0.5)
    r = rng.uniform(0.5, 4)
    slide = rbox(0, 0, L, hs, r)
    if rng.random() < 0.6:  # chamfered muzzle end
        c = hs * rng.uniform(0.2, 0.5)
        slide = slide.difference(poly([[L - c, -1], [L + 1, -1], [L + 1, c]]))
    frame = rbox(L * rng.uniform(0.02, 0.1), -hf, L * rng.uniform(0.8, 0.97), 1, r)
    gw, gl, ga = L * rng.uniform(0.17, 0.24), L * rng.uniform(0.42, 0.6), np.radians(rng.uniform(8, 24))
    gx = L * rng.uniform(0.0, 0.08)
    dx = gl * np.tan(ga)
    flare = rng.uniform(0, 6)
    grip = poly([[gx - 6 * rng.random(), 1], [gx + gw, 1], [gx + gw - dx, -hf - gl],
                 [gx - dx - flare, -hf - gl], [gx - dx - flare * 0.5, -hf - gl * 0.6]])
    grip = rounded(grip, rng.uniform(2, 6))
    if rng.random() < 0.5:  # finger grooves on the front strap
        for k in range(3):
            t = 0.3 + 0.2 * k
            grip = grip.difference(poly(arc_points(gx + gw - dx * t + 2, -hf - gl * t, gl * 0.07, 0, 360, 12)))
    if rng.random() < 0.7:  # magazine base plate
        grip = grip.union(rbox(gx - dx - flare - 2, -hf - gl - rng.uniform(3, 7), gx + gw - dx + 2, -hf - gl + 2, 1.5))
    glen = L * rng.uniform(0.18, 0.26)
    guard = _guard(rng, gx + gw - 3, -hf + 1, glen, hf + L * rng.uniform(0.08, 0.13), rng.uniform(2.5, 4.5))
    trig = _trigger(gx + gw + glen * 0.25, -hf + 1, L * 0.09)
    sights = [rbox(L - 12, hs - 1, L - 6, hs + rng.uniform(2, 5), 0.5), rbox(6, hs - 1, 14, hs + rng.uniform(2, 5), 0.5)]
    t = L * rng.uniform(0.12, 0.17)  # slide thickness
    parts = [extrude(slide.union(frame).union(sights[0]).union(sights[1]), t),
             extrude(grip, t * rng.uniform(1.05, 1.3)), extrude(guard.union(trig), t * rng.uniform(0.45, 0.7))]
    if rng.random() < 0.5:  # accessory rail under the dust cover
        xs = np.arange(gx + gw + glen + 4, L * 0.9 - 4, rng.uniform(4, 6))
        rail = rbox(xs[0] - 2, -hf - 4, xs[-1] + 2, -hf + 1, 0.5) if len(xs) > 1 else None
        if rail is not None:
            parts.append(extrude(rail, t * 0.6))
    body = union(parts)
    cuts = []
    if rng.random() < 0.8:  # slide serrations, both faces
        n, pitch = rng.integers(5, 12), rng.uniform(2.5, 4)
        for k in range(n):
            x = L * 0.04 + k * pitch
            for z in (t / 2, -t / 2):
                cuts.append(extrude(box(x, hs * 0.25, x + pitch * 0.45, hs * 0.9), 1.6, z0=z - 0.8))
    return finish(difference(body, cuts))


@register_shape("revolver", weapon=True)
def revolver(rng: np.random.Generator):
    fw = rng.uniform(50, 70)  # frame length around the cylinder, mm
    fh = fw * rng.uniform(0.65, 0.8)
    bl = rng.uniform(50, 160)  # barrel length
    bh = fh * rng.uniform(0.28, 0.4)
    r = rng.uniform(0.5, 3)
    frame = rbox(0, 0, fw, fh, r)
    barrel = rbox(fw - 2, fh - bh, fw + bl, fh, r)
    if rng.random() < 0.5:  # full-length underlug
        barrel = barrel.union(rbox(fw - 2, fh - bh * rng.uniform(1.5, 1.9), fw + bl * rng.uniform(0.6, 1.0), fh - bh + 1, r))
    sight = poly([[fw + bl - 10, fh - 1], [fw + bl - 3, fh - 1], [fw + bl - 3, fh + rng.uniform(3, 6)]])
    hammer = poly([[-2, fh * 0.55], [6, fh * 0.8], [-4 - rng.uniform(4, 10), fh + rng.uniform(3, 8)], [-6, fh * 0.5]])
    gl, ga = fw * rng.uniform(1.2, 1.7), np.radians(rng.uniform(18, 35))
    gw = fw * rng.uniform(0.42, 0.55)
    dx = gl * np.tan(ga)
    bottom = arc_points(-dx + gw * 0.5, -gl + gw * 0.3, gw * 0.55, 200, 340, 10)
    grip = poly(np.vstack([[[-4, fh * 0.45], [gw, 1]], bottom[::-1]]))
    grip = rounded(grip, rng.uniform(2, 5))
    gd = fh * rng.uniform(0.45, 0.6)
    guard = ring(gw + gd * 0.55, 0, gd * 0.65, gd * 0.65 - rng.uniform(2.5, 4)).difference(box(-99, 0, 999, 99))
    trig = _trigger(gw + gd * 0.35, 1, gd * 0.6)
    t = fw * rng.uniform(0.3, 0.42)
    rc = max(t / 2 + rng.uniform(3, 8), fh * 0.3)  # cylinder radius: bulges out of the frame
    lc = fw * rng.uniform(0.6, 0.8)
    cyl = cylinder(rc, lc, center=(fw * 0.5, fh * 0.45, 0), axis="x", sections=int(rng.integers(12, 40)))
    if rng.random() < 0.6:  # flutes
        n = int(rng.integers(5, 9))
        flutes = [cylinder(rc * 0.18, lc * 0.6, center=(fw * 0.5 + lc * 0.2, fh * 0.45 + rc * np.cos(a), rc * np.sin(a)),
                           axis="x", sections=10) for a in np.linspace(0, 2 * np.pi, n, endpoint=False)]
        cyl = difference(cyl, flutes)
    parts = [extrude(frame.union(barrel).union(sight).union(hammer), t), extrude(grip, t * rng.uniform(1.1, 1.45)),
             extrude(guard.union(trig), t * 0.6), cyl]
    return finish(union(parts))


@register_shape("rifle", weapon=True)
def rifle(rng: np.random.Generator):
    Lt = rng.uniform(220, 310)  # overall length; a bed-sized scale model
    u = Lt / 100
    r = rng.uniform(0.3, 1.5) * u
    rx0, rx1, rh = 30 * u, 30 * u + rng.uniform(18, 26) * u, rng.uniform(6, 8.5) * u  # receiver
    receiver = rbox(rx0, 0, rx1, rh, r)
    bh = rng.uniform(9, 16) * u  # stock height at the butt
    drop = rng.uniform(0, 4) * u
    stock = poly([[0, rh * 0.8 - drop], [0, rh * 0.8 - drop - bh], [rx0 * 0.5, rh * 0.1 - bh * 0.4],
                  [rx0 + 2, rh * 0.05], [rx0 + 2, rh * 0.95], [rx0 * 0.3, rh * 0.95 - drop * 0.5]])
    stock = rounded(stock, r)
    if rng.random() < 0.4:  # skeleton/thumbhole stock
        hole = rbox(rx0 * 0.3, rh * 0.6 - bh * 0.6, rx0 * 0.75, rh * 0.55 - bh * 0.15, 2 * u)
        stock = stock.difference(hole)
    hx1 = rx1 + rng.uniform(18, 32) * u
    hand = rbox(rx1 - 1, rh * 0.05, hx1, rh * rng.uniform(0.8, 1.0), r)
    if rng.random() < 0.6:  # vent slots in the handguard
        for x in np.arange(rx1 + 3 * u, hx1 - 3 * u, rng.uniform(3, 5) * u):
            hand = hand.difference(rbox(x, rh * 0.35, x + 1.5 * u, rh * 0.7, 0.6 * u))
    brad = rng.uniform(0.8, 1.4) * u
    by = rh * 0.6
    barrel = box(hx1 - 1, by - brad, Lt - 3 * u, by + brad).union(
        rbox(Lt - rng.uniform(3, 7) * u, by - brad * 1.6, Lt, by + brad * 1.6, 0.3 * u))
    fsight = poly([[Lt - 9 * u, by + brad - 0.5], [Lt - 7 * u, by + brad - 0.5], [Lt - 7.5 * u, by + brad + rng.uniform(2, 4) * u]])
    gx = rx0 + rng.uniform(1, 4) * u
    if rng.random() < 0.65:  # pistol grip
        gl, ga = rng.uniform(10, 14) * u, np.radians(rng.uniform(15, 30))
        grip = rounded(poly([[gx, 1], [gx + 4.5 * u, 1], [gx + 4.5 * u - gl * np.tan(ga), -gl],
                             [gx - gl * np.tan(ga), -gl]]), 0.8 * u)
    else:  # classic wrist: deepen the stock's belly instead
        grip = rounded(poly([[rx0 * 0.5, rh * 0.5], [gx + 4 * u, rh * 0.5], [gx + 4 * u, -2 * u], [gx - 2 * u, -6 * u],
                             [rx0 * 0.55, rh * 0.6 - drop - bh * 0.75]]), 0.8 * u)
    gs = gx + 4.5 * u
    guard = _guard(rng, gs - 1, 0.5, rng.uniform(7, 9) * u, rng.uniform(4, 5.5) * u, 0.8 * u)
    trig = _trigger(gs + 1.5 * u, 0.5, 3.5 * u)
    mag = None
    if rng.random() < 0.75:  # magazine: straight or curved
        mx, mw, ml = gs + rng.uniform(9, 11) * u, rng.uniform(5, 7) * u, rng.uniform(8, 22) * u
        curve = rng.uniform(0, 0.5) * ml
        mag = rounded(poly([[mx, 1], [mx + mw, 1], [mx + mw + curve, -ml], [mx + curve, -ml]]), 0.5 * u)
    t = rng.uniform(4.5, 7) * u
    silhouette = receiver.union(stock).union(hand).union(barrel).union(fsight)
    parts = [extrude(silhouette, t), extrude(grip, t * 1.1), extrude(guard.union(trig), t * 0.6)]
    if mag is not None:
        parts.append(extrude(mag, t * 0.8))
    if rng.random() < 0.5:  # telescopic sight on two mounts
        sr, sl = rng.uniform(1.6, 2.6) * u, rng.uniform(22, 34) * u
        sx = rx0 + rng.uniform(0, 6) * u
        sy = rh + sr + rng.uniform(1.5, 3) * u
        parts.append(cylinder(sr, sl, center=(sx + sl / 2, sy, 0), axis="x", sections=24))
        parts.append(cylinder(sr * 1.35, sl * 0.18, center=(sx + sl * 0.09, sy, 0), axis="x", sections=24))
        parts.append(cylinder(sr * 1.35, sl * 0.18, center=(sx + sl * 0.91, sy, 0), axis="x", sections=24))
        for f in (0.3, 0.7):
            parts.append(extrude(box(sx + sl * f - 1.5 * u, rh - 1, sx + sl * f + 1.5 * u, sy), t * 0.5))
    elif rng.random() < 0.6:  # carry handle
        parts.append(extrude(rbox(rx0 + 2 * u, rh - 1, rx1 - 2 * u, rh + 4 * u, 1 * u).difference(
            rbox(rx0 + 5 * u, rh + 0.5 * u, rx1 - 5 * u, rh + 2.5 * u, 0.5 * u)), t * 0.5))
    return finish(union(parts))
