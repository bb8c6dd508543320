"""Household objects: mug, gear. Plain clear classes with no grip-plus-body look."""

from __future__ import annotations

import numpy as np

from c3po.shapes.geometry import Point, difference, extrude, finish, poly, rbox, revolve, union
from c3po.shapes.registry import register_shape


@register_shape("mug")
def mug(rng: np.random.Generator):
    R = rng.uniform(30, 50)  # outer radius at the bottom, mm
    H = rng.uniform(60, 115)
    taper = rng.uniform(-0.1, 0.25) * R  # top radius minus bottom radius
    wall, floor = rng.uniform(2.5, 6), rng.uniform(4, 9)
    out = [[0, 0], [R - 2, 0], [R, 2], [R + taper, H], [R + taper - wall, H], [R - wall, floor], [0, floor]]
    if rng.random() < 0.4:  # foot ring
        out = [[0, 0], [R - 2, 0], [R - 2, -3], [R, -3], *out[2:]]
    body = revolve(out, axis="z", sections=int(rng.integers(32, 64)))
    hh = H * rng.uniform(0.45, 0.75)  # handle height
    hd = rng.uniform(18, 35)  # how far it sticks out
    ht = rng.uniform(6, 14)
    zc = H * rng.uniform(0.4, 0.55)
    xr = R + taper * zc / H
    outer = rbox(xr - 8, zc - hh / 2, xr + hd, zc + hh / 2, min(hh, hd) * rng.uniform(0.3, 0.5))
    inner = rbox(xr - 8, zc - hh / 2 + ht, xr + hd - ht, zc + hh / 2 - ht, min(hh, hd) * 0.25)
    handle = extrude(outer.difference(inner), rng.uniform(8, 16))
    handle.apply_transform(np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float))  # XY -> XZ
    cavity = revolve([[0, floor + 0.01], [R - wall - 0.01, floor + 0.01], [R + taper - wall - 0.01, H], [R + taper - wall, H + 9], [0, H + 9]])
    parts = [body, difference(handle, [cavity])]
    if rng.random() < 0.4:  # decorative band
        zb = H * rng.uniform(0.15, 0.85)
        band = revolve([[0, zb - 2], [R + taper * zb / H + 1.5, zb - 2], [R + taper * zb / H + 1.5, zb + 2], [0, zb + 2]])
        parts.append(difference(band, [cavity]))
    return finish(union(parts))


@register_shape("gear")
def gear(rng: np.random.Generator):
    n = int(rng.integers(10, 48))  # teeth
    m = rng.uniform(1.5, 4.0)  # module, mm
    rp = min(m * n / 2, 95)
    m = 2 * rp / n
    ra, rr = rp + m, rp - 1.25 * m
    t = rng.uniform(4, 20)
    # One tooth per 4 outline points: root, flank up, tip, flank down.
    a = np.arange(n)[:, None] * 2 * np.pi / n + np.array([-0.5, -0.22, 0.22, 0.5]) * (2 * np.pi / n) * rng.uniform(0.85, 1.0)
    rad = np.array([rr, ra, ra, rr])[None, :].repeat(n, 0)
    pts = np.stack([rad * np.cos(a), rad * np.sin(a)], axis=-1).reshape(-1, 2)
    shape = poly(pts)
    bore = rng.uniform(2.5, max(3.0, rr * 0.25))
    hole = Point(0, 0).buffer(bore)
    if rng.random() < 0.5:  # keyway
        hole = hole.union(rbox(0, -bore * 0.25, bore * 1.3, bore * 0.25, 0))
    if rr > 25 and rng.random() < 0.7:  # lightening holes between hub and rim
        k = int(rng.integers(3, 7))
        rc = (bore * 2 + rr * 0.8) / 2
        hr = min((rr * 0.8 - bore * 2) / 2 * 0.8, rc * np.sin(np.pi / k) * 0.8)
        for ang in np.linspace(0, 2 * np.pi, k, endpoint=False):
            hole = hole.union(Point(rc * np.cos(ang), rc * np.sin(ang)).buffer(hr))
    parts = [extrude(shape.difference(hole), t, z0=0)]
    if rng.random() < 0.5:  # hub
        parts.append(extrude(Point(0, 0).buffer(bore * 2).difference(Point(0, 0).buffer(bore)), t + rng.uniform(3, 10), z0=0))
    elif rng.random() < 0.5 and rr > 20:  # compound gear: a smaller gear on top
        n2 = max(8, n // 2)
        r2p = m * n2 / 2
        a2 = np.arange(n2)[:, None] * 2 * np.pi / n2 + np.array([-0.5, -0.22, 0.22, 0.5]) * (2 * np.pi / n2)
        rad2 = np.array([r2p - 1.25 * m, r2p + m, r2p + m, r2p - 1.25 * m])[None, :].repeat(n2, 0)
        g2 = poly(np.stack([rad2 * np.cos(a2), rad2 * np.sin(a2)], -1).reshape(-1, 2)).difference(Point(0, 0).buffer(bore))
        parts.append(extrude(g2, rng.uniform(4, 12), z0=t - 0.5))
    return finish(union(parts))
