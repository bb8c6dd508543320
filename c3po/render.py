"""Toolpath -> images: three Cartesian projections and virtual-camera frames.

Projections (the "before printing" case) draw the extruding moves on the top (XY),
front (XZ) and side (YZ) planes. Each view is scaled to the object's extent on that
plane, aspect ratio kept, centred, with a ``margin`` on every side. Lines are as wide as
the extrusion (estimated from E per mm and the layer height) and anti-aliased; the ink
piling up where moves overlap becomes grey levels, ``255 (1 - exp(-ink / mean ink))``.
A tall print draws at most one layer per pixel of image size, evenly spaced: the tone
mapping normalises ink, so the image barely changes while the cost stops growing with
the layer count (a 28 px view of a 600-layer print draws 28 layers).

The virtual camera (the "during printing" case) watches the print from a fixed
perspective camera, one frame after each layer, with the bed drawn as a checkerboard
and the plastic shaded from depth-buffer normals. Frames are incremental: a
:class:`CameraRenderer` keeps a depth buffer and each layer is drawn on top of the
previous ones, so a streaming detector pays only for the new layer.

Camera framing follows the print so far, as a printer host can: it starts from the
footprint of the first layer with extrusion (its bounding box, skirt included). The
camera looks at a sphere of radius ``1.2 R`` centred ``R / 2`` above the footprint centre,
where ``R`` is the footprint's half diagonal but at least ``Camera.min_radius_mm``. When a
layer leaves that sphere (a part taller or wider than its first layer: 59% of the
``c3po`` preset's prints had left the frame before), the camera zooms out to the
bounding box of the print so far, 25% larger, and redraws what was printed. What is yet
to be printed is never used, so frames rendered while streaming equal frames rendered
from the whole file.

Images are uint8, row 0 at the top; numpy (and numba when present) only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from c3po import _raster
from c3po.toolpath import Toolpath, bbox

VIEWS = ("top", "front", "side")
#: world axes drawn along image x and image y (upwards) in each view
VIEW_AXES = ((0, 1), (0, 2), (1, 2))
FILAMENT_DIAMETER = 1.75  # mm
DEFAULT_WIDTH = 0.45  # mm, used when the toolpath gives no estimate
LAYERS_PER_PX = 1.0  # projections draw at most one layer per pixel of image size (see project_views)


def extruding(tp: Toolpath) -> tuple[np.ndarray, np.ndarray]:
    """(m, 3) float32 start and end points of the extruding moves."""
    return tp.start[tp.extrude], tp.end[tp.extrude]


def extrusion_width(tp: Toolpath, filament_diameter: float = FILAMENT_DIAMETER) -> float:
    """Estimated extrusion width in mm: filament volume per mm of path / layer height.

    Filament over XY path length of the extruding moves longer than 0.5 mm, and the mean
    layer height; clipped to [0.2, 2] mm (volumetric E or a single layer fall back sensibly).
    """
    whole, identity = np.array([[0, len(tp)]], np.int64), np.array([1.0, 0.0])
    lo, hi, e_sum, l_sum = _raster.extrude_stats(tp.start, tp.end, tp.e, tp.extrude, whole, identity)
    return _width(e_sum, l_sum, tp.layer_z, filament_diameter)


def _width(e_sum: float, l_sum: float, layer_z: np.ndarray, filament_diameter: float = FILAMENT_DIAMETER) -> float:
    if l_sum <= 0:
        return DEFAULT_WIDTH
    height = float(layer_z[-1] - layer_z[0]) / (len(layer_z) - 1) if len(layer_z) > 1 else 0.2
    area = math.pi * filament_diameter**2 / 4
    return min(max(e_sum / l_sum * area / max(height, 0.05), 0.2), 2.0)


def canonical_angle(moments: np.ndarray) -> float:
    """Rotation about Z (radians) that puts the footprint's principal axis along +x.

    moments : :func:`c3po._raster.footprint_moments` of the drawn moves (segment
              midpoints weighted by length). The sign is chosen so the third moment
              along x is positive (the heavier tail points to +x), which makes the pose
              unique up to ties.
    """
    if moments[0] <= 0:
        return 0.0
    # means about the reference point: 1, x, y, xx, xy, yy, xxx, xxy, xyy, yyy
    _, mx, my, exx, exy, eyy, exxx, exxy, exyy, eyyy = moments / moments[0]
    sxx, sxy, syy = exx - mx * mx, exy - mx * my, eyy - my * my
    evals, evecs = np.linalg.eigh(np.array([[sxx, sxy], [sxy, syy]]))
    axis = evecs[:, 1]
    angle = -math.atan2(axis[1], axis[0])
    c, s = math.cos(angle), -math.sin(angle)  # the principal axis, as a unit vector (c, s)
    # central third moments from the raw ones
    m30 = exxx - 3 * mx * exx + 2 * mx**3
    m21 = exxy - 2 * mx * exy - my * exx + 2 * mx * mx * my
    m12 = exyy - 2 * my * exy - mx * eyy + 2 * mx * my * my
    m03 = eyyy - 3 * my * eyy + 2 * my**3
    skew = c**3 * m30 + 3 * c * c * s * m21 + 3 * c * s * s * m12 + s**3 * m03
    return angle + math.pi if skew < 0 else angle


def drawn_layers(n_layers: int, size: int, layers_per_px: float = LAYERS_PER_PX) -> np.ndarray:
    """Indices of the layers a ``size`` px projection draws: all of them up to
    ``ceil(layers_per_px * size)``, else that many evenly spaced, first and last included
    (``layers_per_px`` 0: all)."""
    budget = math.ceil(layers_per_px * size)
    if not layers_per_px or n_layers <= budget:
        return np.arange(n_layers)
    # steps over one layer apart, so the rounded indices are distinct and increasing
    return np.round(np.arange(budget) * ((n_layers - 1) / max(budget - 1, 1))).astype(np.int64)


def drawn_ranges(tp: Toolpath, size: int, layers_per_px: float = LAYERS_PER_PX) -> np.ndarray:
    """(R, 2) int64 half-open ranges of the moves a ``size`` px projection draws (one
    range of every move when every layer is drawn)."""
    layers = drawn_layers(tp.n_layers, size, layers_per_px)
    if len(layers) == tp.n_layers:
        return np.array([[0, len(tp)]], np.int64)
    first_next = np.stack([layers, layers + 1], axis=1).astype(tp.layer.dtype)
    return np.searchsorted(tp.layer, first_next).astype(np.int64)  # (R, 2): first move, first of the next layer


def project(tp: Toolpath, size: int = 64, **kw) -> np.ndarray:
    """Projections of a toolpath: :func:`project_views` without the view names."""
    return project_views(tp, size, **kw)[0]


def project_views(
    tp: Toolpath,
    size: int = 64,
    *,
    views: tuple[str, ...] = VIEWS,
    margin: float = 0.1,
    line_width: float | None = None,
    canonical: bool = False,
    rotate_deg: float = 0.0,
    layers_per_px: float = LAYERS_PER_PX,
    select: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Top (XY), front (XZ) and side (YZ) views of the extruding moves.

    size          : image side, px (28 for the 61k preset, 64 or 128 for C3PO)
    views         : names from :data:`VIEWS`, or ``"silhouette"``: the view where the
                    object covers the largest box (the top view of a part lying flat, a
                    side view of one standing on its edge)
    margin        : empty border on each side, as a fraction of ``size``
    line_width    : extrusion width, mm; None estimates it (:func:`extrusion_width`)
    canonical     : rotate about Z so the footprint's principal axis lies along +x (see
                    :func:`canonical_angle`), then by ``rotate_deg``; off by default
    rotate_deg    : rotate the toolpath about Z (a new pose of a sliced object)
    layers_per_px : draw at most this many layers per pixel of ``size``, evenly spaced
                    (:func:`drawn_layers`; 0: all). Ink is normalised, so a tall print
                    looks the same at a fraction of the cost
    select        : (n,) bool, draw only these moves, all extruding (one object of a
                    plate); None: all
    returns       : (len(views), size, size) uint8 images, y (or z) upwards, and the
                    names of the views drawn
    """
    ranges = drawn_ranges(tp, size, layers_per_px)
    drawn = tp.extrude if select is None else select
    angle = math.radians(rotate_deg)
    if canonical:
        angle += canonical_angle(_raster.footprint_moments(tp.start, tp.end, drawn, ranges))
    rot = np.array([math.cos(angle), math.sin(angle)])
    lo, hi, e_sum, l_sum = _raster.extrude_stats(tp.start, tp.end, tp.e, drawn, ranges, rot)
    width = _width(e_sum, l_sum, tp.layer_z) if line_width is None else float(line_width)
    names = [VIEWS[_silhouette(lo, hi)] if v == "silhouette" else v for v in views]
    for v in names:
        if v not in VIEWS:
            raise ValueError(f"unknown view {v!r}; use {', '.join(VIEWS)} or silhouette")
    out = np.zeros((len(names), size, size), np.uint8)
    if not lo[0] <= hi[0]:
        return out, names  # nothing extrudes
    # world (x, y, z, 1) -> image (column, row) of each view; plain floats, a few views
    lo, hi = lo.tolist(), hi.tolist()
    c, s = rot.tolist()
    rows = ((c, -s, 0.0), (s, c, 0.0), (0.0, 0.0, 1.0))  # rotation about Z
    affine, width_px = [], []
    for v in names:
        a, b = VIEW_AXES[VIEWS.index(v)]
        scale = size * (1 - 2 * margin) / max(hi[a] - lo[a], hi[b] - lo[b], 1e-3)
        col = [r * scale for r in rows[a]] + [size / 2 - 0.5 * (lo[a] + hi[a]) * scale]
        row = [-r * scale for r in rows[b]] + [size / 2 + 0.5 * (lo[b] + hi[b]) * scale]  # rows grow downwards
        affine.append([col, row])
        width_px.append(width * scale)
    ink = np.zeros((len(names), 2, size + 4, size + 4), np.float32)
    _raster.project_ink(tp.start, tp.end, drawn, ranges, np.array(affine), np.array(width_px), ink)
    _raster.tone(ink[:, 0, 2:-2, 2:-2] + ink[:, 1, 2:-2, 2:-2], out)
    return out, names


def _silhouette(lo: np.ndarray, hi: np.ndarray) -> int:
    """Index in :data:`VIEWS` of the view where a box ``lo``..``hi`` is largest."""
    ext = hi - lo
    return int(np.argmax([ext[0] * ext[1], ext[0] * ext[2], ext[1] * ext[2]]))


@dataclass(frozen=True)
class Camera:
    """A printer camera. Defaults: a Raspberry Pi camera (3.6 mm lens on a 3.76 mm wide
    sensor, 55 degree field of view) in front of the bed, to the right, looking down 30
    degrees.

    elevation_deg : angle above the bed plane
    azimuth_deg   : direction from the object to the camera, degrees from +x (-90: front)
    focal_mm, sensor_mm : lens focal length and sensor width; the field of view
    distance_mm   : from the framed centre; None fits the framing sphere in the view
    min_radius_mm : smallest framing radius (a tiny first layer still frames a scene)
    bed_mm        : side of the bed square drawn under the print
    """

    elevation_deg: float = 30.0
    azimuth_deg: float = -60.0
    focal_mm: float = 3.6
    sensor_mm: float = 3.76
    distance_mm: float | None = None
    min_radius_mm: float = 60.0
    bed_mm: float = 220.0

    def frame(self, lo: np.ndarray, hi: np.ndarray, grow: float = 1.0) -> tuple[np.ndarray, float]:
        """Centre (3,) and radius (mm) of the sphere framed for a print whose moves so
        far fill the box ``lo``..``hi`` (``grow`` > 1 leaves room to grow): the box lies
        inside it (see :func:`fits`)."""
        r = grow * max(self.min_radius_mm, 0.5 * math.hypot(hi[0] - lo[0], hi[1] - lo[1]), (hi[2] - lo[2]) / 1.1)
        centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2] + r / 2], np.float64)
        return centre, 1.2 * r

    def view(self, centre: np.ndarray, radius: float, size: int) -> tuple[np.ndarray, float]:
        """(4, 3) eye, right, up, forward vectors and the focal length in px."""
        half_fov = math.atan(self.sensor_mm / 2 / self.focal_mm)
        dist = self.distance_mm if self.distance_mm is not None else radius / math.sin(half_fov)
        el, az = math.radians(self.elevation_deg), math.radians(self.azimuth_deg)
        back = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        eye = np.asarray(centre, np.float64) + dist * back
        fwd = -back
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        return np.stack([eye, right, up, fwd]), size * self.focal_mm / self.sensor_mm


def fits(frame: tuple[np.ndarray, float], lo: np.ndarray, hi: np.ndarray) -> bool:
    """Whether the box ``lo``..``hi`` lies inside the framing sphere (so inside the view)."""
    centre, radius = frame
    far = np.maximum(np.abs(np.asarray(lo, np.float64) - centre), np.abs(np.asarray(hi, np.float64) - centre))
    return bool(np.sqrt((far**2).sum()) <= radius)


#: the camera zooms out to this much more than the print so far when it leaves the frame
REFRAME_GROW = 1.25

#: direction towards the light in camera coordinates (right, up, towards the camera)
LIGHT = np.array([-0.45, 0.6, 0.66]) / np.linalg.norm([-0.45, 0.6, 0.66])


def bed_image(view: np.ndarray, focal_px: float, size: int, centre: np.ndarray, bed_mm: float) -> np.ndarray:
    """(size, size) uint8: the bed (a 20 mm checkerboard, darker far away) and black sky."""
    eye, right, up, fwd = view
    c = (np.arange(size) + 0.5 - size / 2) / focal_px
    d = fwd[None, None] + c[None, :, None] * right[None, None] - c[:, None, None] * up[None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -eye[2] / d[..., 2]
    hit = eye[None, None, :2] + t[..., None] * d[..., :2]
    on_bed = (t > 0) & (np.abs(hit - centre[:2]).max(-1) <= bed_mm / 2)
    checker = (np.floor(hit[..., 0] / 20) + np.floor(hit[..., 1] / 20)) % 2
    fade = np.clip(1.5 - t * np.linalg.norm(d, axis=-1) / (4 * np.linalg.norm(eye - centre)), 0.4, 1.0)
    grey = (30 + 18 * checker) * fade
    return np.where(on_bed, grey, 0).astype(np.uint8)


class CameraRenderer:
    """Frames of one print, layer by layer, each drawn on top of the last.

    ``add_layer(layer)`` takes the moves of the next layer (a Toolpath, e.g. from
    :class:`c3po.gcode.StreamParser`) and returns the (size, size) uint8 frame of the
    print so far. The framing follows the print so far (see the module docstring;
    ``reframes`` counts the zooms) unless a fixed ``frame=(centre, radius)`` is given.
    """

    def __init__(self, size: int = 64, camera: Camera = Camera(), frame: tuple[np.ndarray, float] | None = None):
        self.size = int(size)
        self.camera = camera
        self.zbuf = np.full((self.size, self.size), np.inf, np.float32)
        self._fixed = frame is not None
        self._frame: tuple[np.ndarray, float] | None = None
        self._view: np.ndarray | None = None
        self._drawn: list[tuple[np.ndarray, np.ndarray]] = []  # to redraw after a zoom
        self._lo = np.full(3, np.inf)
        self._hi = np.full(3, -np.inf)
        self.reframes = 0
        if frame is not None:
            self._setup(*frame)

    def _setup(self, centre: np.ndarray, radius: float) -> None:
        self._frame = (np.asarray(centre, np.float64), float(radius))
        self._view, self._focal = self.camera.view(centre, radius, self.size)
        self.background = bed_image(self._view, self._focal, self.size, self._frame[0], self.camera.bed_mm)

    def add_layer(self, layer: Toolpath) -> np.ndarray:
        """Draw one more layer; return the (size, size) uint8 frame."""
        start, end = extruding(layer)
        if len(start):
            box = bbox(start, end)
            self._lo, self._hi = np.minimum(self._lo, box[0]), np.maximum(self._hi, box[1])
            if self._view is None:
                self._setup(*self.camera.frame(self._lo, self._hi))
            if not self._fixed:
                self._drawn.append((start, end))
                if not fits(self._frame, self._lo, self._hi):
                    self._setup(*self.camera.frame(self._lo, self._hi, REFRAME_GROW))
                    self.zbuf.fill(np.inf)
                    self.reframes += 1
                    for s, e in self._drawn[:-1]:
                        _raster.camera_splat(s, e, self._view, self._focal, self.zbuf)
            _raster.camera_splat(start, end, self._view, self._focal, self.zbuf)
        if self._view is None:
            return np.zeros((self.size, self.size), np.uint8)
        frame = np.empty((self.size, self.size), np.uint8)
        _raster.camera_shade(self.zbuf, self._focal, LIGHT, self.background, frame)
        return frame


def camera_frames(tp: Toolpath, size: int = 64, camera: Camera = Camera()) -> np.ndarray:
    """(L, size, size) uint8: the frame after each of the toolpath's L layers."""
    frames = np.zeros((tp.n_layers, size, size), np.uint8)
    ren = CameraRenderer(size, camera)
    bounds = np.searchsorted(tp.layer, np.arange(tp.n_layers + 1))
    bounds[-1] = len(tp)
    for k in range(tp.n_layers):
        frames[k] = ren.add_layer(tp.take(int(bounds[k]), int(bounds[k + 1])))
    return frames


def save_views(tp: Toolpath, path: str, size: int = 128, title: str = "") -> None:
    """Write a PNG: the three projections and camera frames at 10/25/50/75/100% of layers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = project(tp, size)
    frames = camera_frames(tp, size)
    picks = [max(0, math.ceil(f * tp.n_layers) - 1) for f in (0.10, 0.25, 0.50, 0.75, 1.00)]
    fig, axes = plt.subplots(2, 5, figsize=(12.5, 5.6))
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, name in zip(axes[0], views, VIEWS):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{name} ({'XY XZ YZ'.split()[VIEWS.index(name)]})")
    box = tp.bbox()
    if not np.isnan(box).any():
        ext = box[1] - box[0]
        axes[0, 3].text(0, 0.5, f"{tp.n_layers} layers\n{int(tp.extrude.sum()):,} extruding moves\n"
                        f"{ext[0]:.1f} x {ext[1]:.1f} x {ext[2]:.1f} mm\nwidth {extrusion_width(tp):.2f} mm",
                        transform=axes[0, 3].transAxes, va="center")
    for ax, k, f in zip(axes[1], picks, (10, 25, 50, 75, 100)):
        if len(frames):
            ax.imshow(frames[k], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"camera {f}% (layer {k + 1})")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
