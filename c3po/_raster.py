"""Rasterising kernels behind :mod:`c3po.render`: segments -> ink and depth buffers.

Written in the subset of Python that numba compiles (as :mod:`c3po._scan`); without
numba the same functions run as plain Python, slowly but with the same results, which is
what a printer without numba falls back to. Public entry points live in ``render.py``.
"""

from __future__ import annotations

import math

import numpy as np

from c3po._jit import njit


@njit(cache=True, nogil=True, fastmath=True)
def project_ink(start, end, extrude, ranges, affine, width_px, ink):
    """Accumulate the ink (covered pixel area) of segments in several orthographic views.

    start, end : (n, 3) float32   segments, mm
    extrude    : (n,) bool        only these are drawn
    ranges     : (R, 2) int64     half-open move index ranges to draw (e.g. chosen layers)
    affine     : (V, 2, 4) float64 world (x, y, z, 1) -> image (column, row) in px, per view
    width_px   : (V,) float64     line width, px
    ink        : (V, 2, S + 4, S + 4) float32, C-contiguous, accumulated in place; the
                 caller sums the pair and drops the 2-pixel border

    Connected extruding segments form a polyline, sampled every pixel of arc length
    (at 0.5, 1.5, ... px; across its width too where that is over a pixel); each sample
    carries one pixel of line and is splatted bilinearly (a tent kernel) into one of two
    buffers, alternately, so consecutive samples do not wait on each other's pixels.
    Tent kernels one pixel apart sum to a flat line: anti-aliased, no gaps, and tiny
    segments cost almost nothing. A polyline's last partial pixel is drawn if under half
    a pixel, so ink is conserved to within half a pixel per polyline. Every view is drawn
    in one pass over the moves, each view keeping its own polyline state.
    """
    n_views = affine.shape[0]
    side = ink.shape[2]
    plane = side * side
    flat = ink.reshape(-1)
    hi = side - 4 + 0.999
    across = np.ones(n_views, np.int64)
    for v in range(n_views):
        if width_px[v] > 1.0:
            across[v] = int(math.ceil(width_px[v]))
    done = np.zeros(n_views)  # arc length into the current one-pixel piece
    count = np.zeros(n_views, np.int64)  # samples so far
    lx = np.full(n_views, -1.0)  # end of the previous extruding segment (px), -1: none
    ly = np.full(n_views, -1.0)
    ux = np.zeros(n_views)
    uy = np.zeros(n_views)
    for r in range(ranges.shape[0]):
        for i in range(ranges[r, 0], ranges[r, 1]):
            if not extrude[i]:
                continue
            ax, ay, az = start[i, 0], start[i, 1], start[i, 2]
            bx, by, bz = end[i, 0], end[i, 1], end[i, 2]
            for v in range(n_views):
                base = np.uint64(2 * v * plane)
                w = width_px[v]
                m = affine[v]
                x0 = min(max(m[0, 0] * ax + m[0, 1] * ay + m[0, 2] * az + m[0, 3], 0.0), hi)
                y0 = min(max(m[1, 0] * ax + m[1, 1] * ay + m[1, 2] * az + m[1, 3], 0.0), hi)
                x1 = min(max(m[0, 0] * bx + m[0, 1] * by + m[0, 2] * bz + m[0, 3], 0.0), hi)
                y1 = min(max(m[1, 0] * bx + m[1, 1] * by + m[1, 2] * bz + m[1, 3], 0.0), hi)
                d = done[v]
                if x0 != lx[v] or y0 != ly[v]:  # a new polyline: finish the last one
                    if 0.0 < d < 0.5:
                        _splat_line(flat, base, plane, side, count[v], lx[v] - ux[v] * d * 0.5,
                                    ly[v] - uy[v] * d * 0.5, 0.0, 0.0, 1, uy[v], ux[v], w * d, across[v])
                        count[v] += 1
                    d = 0.0
                lx[v] = x1
                ly[v] = y1
                dx = x1 - x0
                dy = y1 - y0
                if dy == 0.0:  # level: every move of a flat layer in the front and side views
                    length = abs(dx)  # = sqrt(dx * dx) exactly, without the sqrt and divisions
                    tx = 1.0 if dx > 0.0 else -1.0
                    ty = 0.0
                else:
                    length = math.sqrt(dx * dx + dy * dy)
                    tx = dx / length
                    ty = dy / length
                if length <= 0.0:
                    done[v] = d
                    continue
                ux[v] = tx
                uy[v] = ty
                t = 0.5 - d if d < 0.5 else 1.5 - d  # distance to the next piece centre
                if t <= length:
                    steps = int(length - t) + 1
                    _splat_line(flat, base, plane, side, count[v], x0 + tx * t, y0 + ty * t, tx, ty, steps, ty, tx,
                                w, across[v])
                    count[v] += steps
                d += length
                done[v] = d - math.floor(d)
    for v in range(n_views):
        d = done[v]
        if 0.0 < d < 0.5:
            _splat_line(flat, np.uint64(2 * v * plane), plane, side, count[v], lx[v] - ux[v] * d * 0.5,
                        ly[v] - uy[v] * d * 0.5, 0.0, 0.0, 1, uy[v], ux[v], width_px[v] * d, across[v])


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _splat_line(flat, base, plane, side, n, x, y, ux, uy, steps, nux, nuy, w, across):
    """``steps`` samples from (x, y), one pixel apart along (ux, uy), each carrying ``w``
    pixels of ink into buffer ``(n + step) & 1`` of the view starting at flat index
    ``base``; lines wider than a pixel spread each sample over ``across`` splats along the
    normal (-nux, nuy), clamped to the buffer (a line centre is at least 1.5 px inside)."""
    x += 1.5  # pixel centres sit at i + 0.5; +2 for the border, -0.5 to the centre
    y += 1.5
    if across == 1 and uy == 0.0:  # level: one row for every sample
        iy = int(y)
        ay = y - iy
        row = base + np.uint64(iy * side)
        for _ in range(steps):
            ix = int(x)
            _tent(flat, row + np.uint64((n & 1) * plane + ix), side, w, x - ix, ay)
            n += 1
            x += ux
        return
    if across == 1:
        for _ in range(steps):
            _splat(flat, base, plane, side, n & 1, x, y, w)
            n += 1
            x += ux
            y += uy
        return
    wq = w / across
    edge = side - 1.001  # splats spread across a wide line stay inside the buffer
    for _ in range(steps):
        for q in range(across):
            u = ((q + 0.5) / across - 0.5) * w
            _splat(flat, base, plane, side, n & 1, min(max(x - nux * u, 0.0), edge), min(max(y + nuy * u, 0.0), edge),
                   wq)
        n += 1
        x += ux
        y += uy


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _splat(flat, base, plane, side, k, x, y, w):
    """Add ``w`` at (x, y) (border-shifted px) of buffer ``k`` with a bilinear tent; unsigned
    flat indices spare numba's negative-index checks."""
    ix = int(x)
    iy = int(y)
    _tent(flat, base + np.uint64(k * plane + iy * side + ix), side, w, x - ix, y - iy)


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _tent(flat, j, side, w, ax, ay):
    """Add ``w`` over the 2x2 pixels from flat index ``j`` (row length ``side``), split by
    the fractional offsets ``ax`` and ``ay``."""
    wa = w * ax
    w1 = w - wa
    flat[j] += w1 - w1 * ay
    flat[j + np.uint64(1)] += wa - wa * ay
    flat[j + np.uint64(side)] += w1 * ay
    flat[j + np.uint64(side + 1)] += wa * ay


@njit(cache=True, nogil=True)
def extrude_stats(start, end, e, extrude, ranges, rot):
    """Bounding box and E per mm of the extruding segments in ``ranges``, in one pass.

    start, end : (n, 3) float32; e : (n,) float32; extrude : (n,) bool
    ranges     : (R, 2) int64 half-open move index ranges; rot : (2,) cos, sin about Z
    returns    : lo (3,), hi (3,) float64 of the rotated segments (inf/-inf if none),
                 filament mm, XY path mm
    """
    lo0 = lo1 = lo2 = np.inf  # scalars, not arrays: the min/max chains stay in registers
    hi0 = hi1 = hi2 = -np.inf
    e_sum = 0.0
    l_sum = 0.0
    c, s = rot[0], rot[1]
    for r in range(ranges.shape[0]):
        prev = -2
        for i in range(ranges[r, 0], ranges[r, 1]):
            if not extrude[i]:
                continue
            sx, sy, sz = start[i, 0], start[i, 1], start[i, 2]
            ex, ey, ez = end[i, 0], end[i, 1], end[i, 2]
            # a move starting where the previous drawn one ended adds only its end
            if not (i == prev + 1 and sx == end[prev, 0] and sy == end[prev, 1] and sz == end[prev, 2]):
                x = c * sx - s * sy
                y = s * sx + c * sy
                lo0, hi0 = min(lo0, x), max(hi0, x)
                lo1, hi1 = min(lo1, y), max(hi1, y)
                lo2, hi2 = min(lo2, sz), max(hi2, sz)
            prev = i
            x = c * ex - s * ey
            y = s * ex + c * ey
            lo0, hi0 = min(lo0, x), max(hi0, x)
            lo1, hi1 = min(lo1, y), max(hi1, y)
            lo2, hi2 = min(lo2, ez), max(hi2, ez)
            dx = ex - sx
            dy = ey - sy
            l2 = dx * dx + dy * dy
            if l2 > 0.25:  # else the length is at most 0.5 mm: no sqrt
                length = math.sqrt(l2)
                if length > 0.5:  # short moves carry pressure-advance and seam noise
                    e_sum += e[i]
                    l_sum += length
    return np.array([lo0, lo1, lo2]), np.array([hi0, hi1, hi2]), e_sum, l_sum


@njit(cache=True, nogil=True)
def footprint_moments(start, end, extrude, ranges):
    """Raw moments of a footprint, for :func:`c3po.render.canonical_angle`.

    The XY midpoints of the extruding segments in ``ranges``, each weighted by its XY
    length (+1e-6), taken about the first midpoint (small sums, no cancellation).
    returns : (10,) float64: the sums of w, w x, w y, w x^2, w x y, w y^2, w x^3,
              w x^2 y, w x y^2, w y^3
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = s9 = 0.0  # scalar sums stay in registers
    ref_x = ref_y = np.nan
    for r in range(ranges.shape[0]):
        for i in range(ranges[r, 0], ranges[r, 1]):
            if not extrude[i]:
                continue
            mx = 0.5 * (np.float64(start[i, 0]) + end[i, 0])
            my = 0.5 * (np.float64(start[i, 1]) + end[i, 1])
            if ref_x != ref_x:  # NaN: the first midpoint is the reference
                ref_x = mx
                ref_y = my
            x = mx - ref_x
            y = my - ref_y
            dx = np.float64(end[i, 0]) - start[i, 0]
            dy = np.float64(end[i, 1]) - start[i, 1]
            w = math.sqrt(dx * dx + dy * dy) + 1e-6
            wx = w * x
            wy = w * y
            s0 += w
            s1 += wx
            s2 += wy
            s3 += wx * x
            s4 += wx * y
            s5 += wy * y
            s6 += wx * x * x
            s7 += wx * x * y
            s8 += wx * y * y
            s9 += wy * y * y
    return np.array([s0, s1, s2, s3, s4, s5, s6, s7, s8, s9])


@njit(cache=True, nogil=True)
def tone(ink, out):
    """Ink -> grey: ``255 (1 - exp(-ink / mean))``, mean over the inked pixels of each view.

    ink : (V, S, S) float32; out : (V, S, S) uint8 written in place. Scale-free: a pixel
    with the view's mean ink is grey 161, three times the mean is 242.
    """
    for v in range(out.shape[0]):
        total = 0.0
        count = 0
        peak = 0.0
        for y in range(ink.shape[1]):
            for x in range(ink.shape[2]):
                peak = max(peak, ink[v, y, x])
        floor = peak * 1e-3
        for y in range(ink.shape[1]):
            for x in range(ink.shape[2]):
                if ink[v, y, x] > floor:
                    total += ink[v, y, x]
                    count += 1
        ref = total / count if count > 0 else 1.0
        for y in range(ink.shape[1]):
            for x in range(ink.shape[2]):
                i = ink[v, y, x]
                out[v, y, x] = np.uint8(min(255.0, 255.0 * (1.0 - math.exp(-i / ref)) + 0.5)) if i > 0.0 else 0


@njit(cache=True, nogil=True)
def camera_splat(start, end, view, focal_px, zbuf):
    """Draw segments into a depth buffer: the nearest depth wins (order-independent).

    start, end : (m, 3) float32  extruding segments, world mm
    view       : (4, 3) float64  camera eye, right, up and forward unit vectors
    focal_px   : float           focal length, px
    zbuf       : (S, S) float32  camera depth along ``forward``, mm; inf where empty
    """
    size_y, size_x = zbuf.shape
    cx = 0.5 * size_x
    cy = 0.5 * size_y
    for i in range(start.shape[0]):
        # camera coordinates of both ends
        ax = start[i, 0] - view[0, 0]
        ay = start[i, 1] - view[0, 1]
        az = start[i, 2] - view[0, 2]
        bx = end[i, 0] - view[0, 0]
        by = end[i, 1] - view[0, 1]
        bz = end[i, 2] - view[0, 2]
        ar = ax * view[1, 0] + ay * view[1, 1] + az * view[1, 2]
        au = ax * view[2, 0] + ay * view[2, 1] + az * view[2, 2]
        af = ax * view[3, 0] + ay * view[3, 1] + az * view[3, 2]
        br = bx * view[1, 0] + by * view[1, 1] + bz * view[1, 2]
        bu = bx * view[2, 0] + by * view[2, 1] + bz * view[2, 2]
        bf = bx * view[3, 0] + by * view[3, 1] + bz * view[3, 2]
        if af <= 1.0 or bf <= 1.0:
            continue  # behind or at the camera
        x0 = cx + focal_px * ar / af
        y0 = cy - focal_px * au / af
        x1 = cx + focal_px * br / bf
        y1 = cy - focal_px * bu / bf
        length = math.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2)
        n = int(math.ceil(2.0 * length)) + 1  # samples every half pixel, ends included
        for p in range(n):
            t = p / (n - 1) if n > 1 else 0.0
            r = ar + (br - ar) * t
            u = au + (bu - au) * t
            f = af + (bf - af) * t
            ix = int(math.floor(cx + focal_px * r / f))
            iy = int(math.floor(cy - focal_px * u / f))
            if 0 <= ix < size_x and 0 <= iy < size_y and f < zbuf[iy, ix]:
                zbuf[iy, ix] = f


@njit(cache=True, nogil=True)
def camera_shade(zbuf, focal_px, light, background, out):
    """Shade a depth buffer over the background: Lambert from depth-derived normals.

    zbuf       : (S, S) float32  depth, mm; inf where nothing is drawn
    light      : (3,) float64    unit direction towards the light, camera coordinates
                                 (right, up, towards the camera)
    background : (S, S) uint8    the bed and the empty scene
    out        : (S, S) uint8    written in place
    """
    size_y, size_x = zbuf.shape
    for y in range(size_y):
        for x in range(size_x):
            z = zbuf[y, x]
            if not z < np.inf:
                out[y, x] = background[y, x]
                continue
            pix = z / focal_px  # mm per pixel at this depth
            limit = 6.0 * pix
            # depth slopes along x and y from the neighbours on the same surface
            gx = 0.0
            nx_ = 0
            for d in (-1, 1):
                xx = x + d
                if 0 <= xx < size_x and abs(zbuf[y, xx] - z) < limit:
                    gx += (zbuf[y, xx] - z) * d
                    nx_ += 1
            gy = 0.0
            ny_ = 0
            for d in (-1, 1):
                yy = y + d
                if 0 <= yy < size_y and abs(zbuf[yy, x] - z) < limit:
                    gy += (zbuf[yy, x] - z) * d
                    ny_ += 1
            dzdx = gx / nx_ / pix if nx_ > 0 else 0.0  # mm of depth per mm across
            dzdy = -gy / ny_ / pix if ny_ > 0 else 0.0  # image y grows downwards
            # surface normal in (right, up, towards camera) coordinates
            nr = dzdx
            nu = dzdy
            nf = 1.0
            norm = math.sqrt(nr * nr + nu * nu + nf * nf)
            lam = (nr * light[0] + nu * light[1] + nf * light[2]) / norm
            shade = 0.3 + 0.7 * max(lam, 0.0)
            out[y, x] = np.uint8(90.0 + 165.0 * shade * shade + 0.5)
