"""Render speed: c3po's numba renderer against naive baselines, in one process, one core.

    python bench/render.py [--objects N]

Projections (3 views of 28x28 and 64x64; at 28x28 also every layer drawn, the old way,
and the single silhouette view the 61k preset keeps) and camera frames (64x64, one per layer) from
already parsed toolpaths: real slicer output from ../shared/gcode and built-in-slicer
output of library objects (one per class, when c3po.slicer is importable). Baselines:
matplotlib's LineCollection (what a Python user draws with first) for projections and
a per-segment Python z-buffer loop for camera frames. Writes bench/results/render.json
and prints images/s and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ["box_prusa", "lshape_prusa", "cylinder_cura", "CSG_prusa", "bunny_prusa"]

os.environ.setdefault("NUMBA_NUM_THREADS", "1")


def per_second(fn, n_images: int, min_time: float = 0.5) -> float:
    fn()  # warm up (numba compile)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_time:
        fn()
        reps += 1
    return reps * n_images / (time.perf_counter() - t0)


def matplotlib_projection(tp, size: int) -> np.ndarray:
    """Baseline: draw each view with a LineCollection on an Agg canvas."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    s, e = tp.start[tp.extrude], tp.end[tp.extrude]
    out = np.zeros((3, size, size), np.uint8)
    for v, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
        fig = Figure(figsize=(1, 1), dpi=size)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes([0, 0, 1, 1])
        ax.axis("off")
        ax.add_collection(LineCollection(np.stack([s[:, [a, b]], e[:, [a, b]]], 1), linewidths=0.3, colors="w",
                                         alpha=0.2))
        ax.set_facecolor("k")
        ax.autoscale()
        ax.set_aspect("equal")
        canvas.draw()
        out[v] = np.asarray(canvas.buffer_rgba())[..., 0]
    return out


def python_camera_frames(tp, size: int, layers: int) -> np.ndarray:
    """Baseline: the same camera, one Python loop iteration per segment end point."""
    from c3po.render import Camera, extruding
    from c3po.toolpath import bbox

    cam = Camera()
    centre, radius = cam.frame(*bbox(*extruding(tp.take(*tp.layer_range(0)))))  # fixed: framed from layer 0
    view, f = cam.view(centre, radius, size)
    z = np.full((size, size), np.inf)
    frames = np.zeros((layers, size, size), np.uint8)
    for k in range(layers):
        s, _ = extruding(tp.take(*tp.layer_range(k)))
        for p in s.astype(np.float64):
            d = p - view[0]
            r, u, w = d @ view[1], d @ view[2], d @ view[3]
            x, y = int(size / 2 + f * r / w), int(size / 2 - f * u / w)
            if 0 <= x < size and 0 <= y < size and w < z[y, x]:
                z[y, x] = w
        frames[k] = np.where(np.isfinite(z), 200, 0)
    return frames


def toolpaths(n_objects: int) -> dict:
    from c3po import parse_gcode

    out = {name: parse_gcode(ROOT.parent / "shared" / "gcode" / f"{name}.gcode.gz") for name in REAL}
    try:
        from c3po.shapes import create_shape, list_shapes
        from c3po.shapes.pose import Pose, apply_pose
        from c3po.slicer import slice_mesh
    except ImportError:
        return out
    for name in list_shapes()[:n_objects]:
        for seed in range(1, 6):  # the first seed the built-in slicer handles
            try:
                gcode = slice_mesh(apply_pose(create_shape(name, seed), Pose("flat", 0, 1.0)))
            except Exception as exc:  # noqa: BLE001 - a slicer bug must not stop the render benchmark
                print(f"skipping {name} seed {seed}: {type(exc).__name__}: {exc}")
                continue
            out[f"builtin:{name}"] = parse_gcode(gcode)
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=10, help="library objects (one per class)")
    args = ap.parse_args()
    from c3po.render import camera_frames, project

    results = []
    print(f"{'toolpath':22s} {'moves':>8s} {'layers':>6s} {'proj28/s':>9s} {'all28/s':>8s} {'sil28/s':>8s} "
          f"{'proj64/s':>9s} {'mpl28/s':>8s} "
          f"{'x':>5s} {'frames64/s':>10s} {'py/s':>7s} {'x':>5s}")
    for name, tp in toolpaths(args.objects).items():
        r = {"toolpath": name, "moves": len(tp), "layers": tp.n_layers}
        r["proj28_per_s"] = per_second(lambda: project(tp, 28), 3)
        r["proj28_all_layers_per_s"] = per_second(lambda: project(tp, 28, layers_per_px=0), 3)
        r["silhouette28_per_s"] = per_second(lambda: project(tp, 28, views=("silhouette",)), 1)
        r["proj64_per_s"] = per_second(lambda: project(tp, 64), 3)
        r["matplotlib28_per_s"] = per_second(lambda: matplotlib_projection(tp, 28), 3, min_time=0.2)
        r["frames64_per_s"] = per_second(lambda: camera_frames(tp, 64), tp.n_layers)
        k = min(tp.n_layers, 20)
        r["python_frames64_per_s"] = per_second(lambda: python_camera_frames(tp, 64, k), k, min_time=0.2)
        r["proj_ratio"] = r["proj28_per_s"] / r["matplotlib28_per_s"]
        r["frames_ratio"] = r["frames64_per_s"] / r["python_frames64_per_s"]
        results.append(r)
        print(f"{name:22s} {len(tp):8,d} {tp.n_layers:6d} {r['proj28_per_s']:9,.0f} "
              f"{r['proj28_all_layers_per_s']:8,.0f} {r['silhouette28_per_s']:8,.0f} {r['proj64_per_s']:9,.0f} "
              f"{r['matplotlib28_per_s']:8,.0f} {r['proj_ratio']:5.0f} {r['frames64_per_s']:10,.0f} "
              f"{r['python_frames64_per_s']:7,.0f} {r['frames_ratio']:5.0f}")
    lib = [r for r in results if r["toolpath"].startswith("builtin:")] or results
    summary = {
        "median_proj28_per_s_library": float(np.median([r["proj28_per_s"] for r in lib])),
        "median_proj28_all_layers_per_s_library": float(np.median([r["proj28_all_layers_per_s"] for r in lib])),
        "median_silhouette28_per_s_library": float(np.median([r["silhouette28_per_s"] for r in lib])),
        "median_frames64_per_s_library": float(np.median([r["frames64_per_s"] for r in lib])),
        "median_proj_ratio_vs_matplotlib": float(np.median([r["proj_ratio"] for r in results])),
        "median_frames_ratio_vs_python": float(np.median([r["frames_ratio"] for r in results])),
        "targets": {"proj28_per_s": 5000, "frames64_per_s": 1000},
    }
    print(json.dumps(summary, indent=1))
    out = ROOT / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
