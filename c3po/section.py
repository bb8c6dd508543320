"""Planar sections of a mesh: one (Multi)Polygon per layer height, fully vectorised.

Each triangle is cut by every plane it spans (numpy); a cut point is keyed by the mesh
edge it lies on, so the two triangles that share an edge produce bit-identical points and
loops close exactly. Segments are directed by the face winding (outside on the right), so
outer loops run counter-clockwise and holes clockwise; loops are chained by a small numba
walk and assembled into polygons largest first (add CCW, subtract CW), which handles holes,
islands in holes and overlapping shells alike.
"""

from __future__ import annotations

import numpy as np

from c3po._scan import njit


def sections(vertices: np.ndarray, faces: np.ndarray, heights: np.ndarray, min_area: float = 0.05) -> list:
    """Cross-sections of a closed mesh at each height.

    vertices : (v, 3) float; faces : (f, 3) int; heights : (L,) float, increasing.
    Returns a list of L shapely geometries (Polygon/MultiPolygon, possibly empty), mm.
    Loops that do not close (holes in the mesh) are dropped.
    """
    import shapely

    seg_a, seg_b, pts, layer = _cut(np.asarray(vertices, np.float64), np.asarray(faces, np.int64),
                                    np.asarray(heights, np.float64))
    out = [shapely.Polygon()] * len(heights)
    if len(seg_a) == 0:
        return out
    order, starts, closed = _chain(seg_a, seg_b)
    loop_layer = layer[order[starts[:-1]]]
    coords = pts[order]
    keep = closed & (np.diff(starts) >= 3)
    ring_idx = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    sel = keep[ring_idx]
    remap = np.cumsum(keep) - 1  # shapely wants ring indices 0..k-1 without gaps
    polys = shapely.polygons(shapely.linearrings(coords[sel], indices=remap[ring_idx[sel]]))
    area = _signed_area(coords, starts)[keep]
    loop_layer = loop_layer[keep]
    bad = ~shapely.is_valid(polys)
    if bad.any():  # self-touching loops (pinched meshes): keep their area, drop slivers
        polys[bad] = shapely.make_valid(polys[bad], method="structure", keep_collapsed=False)
    simple = shapely.get_type_id(polys) == 3  # plain Polygons
    # Per layer: largest loop first; CCW adds material, CW removes it.
    by = np.lexsort((-np.abs(area), loop_layer))
    bounds = np.searchsorted(loop_layer[by], np.arange(len(heights) + 1))
    for k in range(len(heights)):
        idx = by[bounds[k]:bounds[k + 1]]
        idx = idx[np.abs(area[idx]) >= min_area]
        if len(idx) == 0:
            continue
        ccw = area[idx] > 0
        if ccw.all():
            region = shapely.union_all(polys[idx]) if len(idx) > 1 else polys[idx[0]]
        elif ccw.sum() == 1 and ccw[0] and simple[idx].all():  # the common case: one outline and its holes
            region = shapely.Polygon(polys[idx[0]].exterior, [polys[i].exterior for i in idx[1:]])
            if not region.is_valid:
                region = polys[idx[0]].difference(shapely.union_all(polys[idx[1:]]))
        else:
            region = shapely.Polygon()
            for i in idx:
                region = region.union(polys[i]) if area[i] > 0 else region.difference(polys[i])
        out[k] = region
    return out


def _cut(v: np.ndarray, f: np.ndarray, h: np.ndarray):
    """Directed segments (start key, end key), their points and layers.

    Returns seg_a, seg_b : (s,) int64 keys of the cut points each segment joins;
    pts : (s, 2) float64, the start point of each segment; layer : (s,) int64.
    """
    tz = v[f][:, :, 2]
    lo, hi = np.searchsorted(h, tz.min(1), "left"), np.searchsorted(h, tz.max(1), "left")
    n = hi - lo
    tri = np.repeat(np.arange(len(f)), n)
    lay = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())  # layer of each (tri, plane)
    if len(tri) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros((0, 2)), z
    zp = h[lay]
    fi = f[tri]
    above = v[fi][:, :, 2] > zp[:, None]  # (s, 3): a vertex on the plane counts as below
    # Edges (0,1), (1,2), (2,0); exactly two of them cross the plane.
    ea, eb = np.array([0, 1, 2]), np.array([1, 2, 0])
    cross = above[:, ea] != above[:, eb]
    keep = cross.sum(1) == 2
    fi, zp, lay, cross = fi[keep], zp[keep], lay[keep], cross[keep]
    # The two crossing edges, in face order: (first, second).
    e_idx = np.where(cross)[1].reshape(-1, 2)
    va, vb = fi[np.arange(len(fi))[:, None], ea[e_idx]], fi[np.arange(len(fi))[:, None], eb[e_idx]]
    lo_v, hi_v = np.minimum(va, vb), np.maximum(va, vb)  # canonical edge: same point from both faces
    p0, p1 = v[lo_v], v[hi_v]
    t = (zp[:, None] - p0[..., 2]) / (p1[..., 2] - p0[..., 2])
    pt = p0[..., :2] + t[..., None] * (p1[..., :2] - p0[..., :2])  # (s, 2, 2)
    key = (lo_v * len(v) + hi_v) * len(h) + lay[:, None]
    # Direct each segment by the face's winding, not its (possibly degenerate) normal: the
    # edge that the winding crosses going down is the start. Two faces sharing an edge wind
    # it in opposite directions, so one's end is exactly the other's start, and with
    # outward-facing winding the outside ends up on the right (outlines counter-clockwise).
    up = ~above[keep][np.arange(len(fi))[:, None], ea[e_idx]]  # (s, 2): crossing edge goes up
    flip = up[:, 0]
    a = np.where(flip, key[:, 1], key[:, 0])
    b = np.where(flip, key[:, 0], key[:, 1])
    start = np.where(flip[:, None], pt[:, 1], pt[:, 0])
    return a, b, start, lay


def _chain(a: np.ndarray, b: np.ndarray):
    """Order segments into loops by matching each end key to the next start key.

    Returns order (s,) segment indices loop by loop, starts (r + 1,) loop offsets into
    order, closed (r,) whether each loop returned to its first segment.
    """
    sa = np.argsort(a, kind="stable")
    pos = np.searchsorted(a[sa], b)
    pos = np.minimum(pos, len(a) - 1)
    nxt = np.where(a[sa[pos]] == b, sa[pos], -1)
    return _walk(nxt)


@njit(cache=True)
def _walk(nxt):
    n = len(nxt)
    seen = np.zeros(n, np.bool_)
    order = np.empty(n, np.int64)
    starts = np.empty(n + 1, np.int64)
    closed = np.empty(n, np.bool_)
    k = 0
    r = 0
    for s in range(n):
        if seen[s]:
            continue
        starts[r] = k
        i = s
        ok = False
        while True:
            seen[i] = True
            order[k] = i
            k += 1
            j = nxt[i]
            if j < 0:
                break
            if j == s:
                ok = True
                break
            if seen[j]:
                break
            i = j
        closed[r] = ok
        r += 1
    starts[r] = k
    return order, starts[: r + 1], closed[:r]


def _signed_area(coords: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(r,) shoelace area of each loop ``coords[starts[i]:starts[i+1]]``; CCW positive."""
    x, y = coords[:, 0], coords[:, 1]
    nxt = np.arange(len(x)) + 1
    nxt[starts[1:] - 1] = starts[:-1]
    cross = x * y[nxt] - x[nxt] * y
    return 0.5 * np.add.reduceat(cross, starts[:-1]) if len(starts) > 1 else np.zeros(0)
