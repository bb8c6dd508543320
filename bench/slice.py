"""Slicing speed and fidelity: built-in slicer vs PrusaSlicer vs CuraEngine, in one run.

    python bench/slice.py [--n 50] [--seed 0] [--slicers builtin,prusa,cura]

The same N library objects (N/10 per class, each in a seeded random pose as people print)
go through every slicer with the same SliceConfig. Reports seconds per object (wall, as
``slice_mesh`` returns bytes: mesh checks, STL export and subprocess included for the real
slicers) and how far each G-code's bounding box of extruding moves is from PrusaSlicer's
(max over the 6 box coordinates, mm; target within 1 mm). Writes bench/results/slice.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="objects (default: 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slicers", default="builtin,prusa,cura")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "slice.json"))
    args = ap.parse_args()

    from c3po import backends
    from c3po.errors import C3POError
    from c3po.gcode import parse_gcode
    from c3po.shapes import list_shapes
    from c3po.shapes.pose import apply_pose, random_pose
    from c3po.shapes.source import iter_objects
    from c3po.slicer import SliceConfig, slice_mesh

    slicers = [s for s in args.slicers.split(",") if s == "builtin" or backends.available(s)]
    skipped = sorted(set(args.slicers.split(",")) - set(slicers))
    cfg = SliceConfig()
    classes = list_shapes()
    per = max(1, args.n // len(classes))
    specs = list(iter_objects("procedural", classes, per_class=per, seed=args.seed))[: args.n]
    slice_mesh(apply_pose(specs[0].mesh(), random_pose(np.random.default_rng(0))))  # warm numba/imports

    rows = []
    for i, spec in enumerate(specs):
        rng = np.random.default_rng([args.seed, i])
        pose = random_pose(rng)
        mesh = apply_pose(spec.mesh(), pose)
        row = {"object_id": spec.object_id, "class": spec.label, "pose": [pose.rest, round(pose.angle, 1), round(pose.scale, 3)],
               "size_mm": np.round(mesh.extents, 2).tolist(), "faces": len(mesh.faces)}
        for s in slicers:
            t = time.perf_counter()
            try:
                gcode = slice_mesh(mesh, slicer=s, config=cfg)
            except C3POError as exc:  # a real slicer refusing an object is a result too
                row[f"{s}_error"] = str(exc)
                continue
            row[f"{s}_s"] = round(time.perf_counter() - t, 4)
            tp = parse_gcode(gcode)
            row[f"{s}_layers"] = tp.n_layers
            row[f"{s}_bbox"] = np.round(tp.bbox(), 3).tolist()
            row[f"{s}_bytes"] = len(gcode)
        if "prusa_bbox" in row:
            ref = np.array(row["prusa_bbox"])
            for s in slicers:
                if s != "prusa" and f"{s}_bbox" in row:
                    row[f"{s}_bbox_vs_prusa_mm"] = round(float(np.abs(np.array(row[f"{s}_bbox"]) - ref).max()), 4)
        rows.append(row)
        cols = " ".join(f"{s} {row[f'{s}_s']:.2f}s" if f"{s}_s" in row else f"{s} FAILED" for s in slicers)
        dev = row.get("builtin_bbox_vs_prusa_mm")
        print(f"[{i + 1:2d}/{len(specs)}] {spec.object_id:28s} {pose.rest:10s} {cols}"
              + (f"  bbox dev {dev:.3f} mm" if dev is not None else ""), flush=True)

    failed = {s: [r["object_id"] for r in rows if f"{s}_error" in r] for s in slicers}
    ok = [r for r in rows if all(f"{s}_s" in r for s in slicers)]
    summary = {s: {"mean_s": round(float(np.mean([r[f"{s}_s"] for r in ok])), 4),
                   "median_s": round(float(np.median([r[f"{s}_s"] for r in ok])), 4),
                   "total_s": round(float(np.sum([r[f"{s}_s"] for r in ok])), 2)} for s in slicers}
    for s in slicers:
        if s != "builtin":
            summary[s]["mean_s_ratio_vs_builtin"] = round(summary[s]["mean_s"] / summary["builtin"]["mean_s"], 3)
            summary[s]["objects_where_builtin_faster"] = int(sum(r["builtin_s"] <= r[f"{s}_s"] for r in ok))
        if "prusa" in slicers and s != "prusa":
            dev = np.array([r[f"{s}_bbox_vs_prusa_mm"] for r in ok])
            summary[s]["bbox_vs_prusa_max_mm"] = round(float(dev.max()), 4)
            summary[s]["bbox_vs_prusa_median_mm"] = round(float(np.median(dev)), 4)
            summary[s]["bbox_within_1mm"] = f"{int((dev <= 1.0).sum())}/{len(dev)}"
    result = {"bench": "slice", "objects": len(rows), "config": cfg.__dict__, "slicers": slicers,
              "skipped_missing": skipped, "failed": failed, "objects_all_ok": len(ok), "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
              "summary": summary, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))

    print(f"\n{len(ok)} of {len(rows)} objects sliced by all; seconds per object (mean / median):")
    for s in slicers:
        m = summary[s]
        extra = f"   {m['mean_s_ratio_vs_builtin']:.2f}x the built-in's time; built-in faster on " \
                f"{m['objects_where_builtin_faster']}/{len(ok)}" if s != "builtin" else ""
        print(f"  {s:8s} {m['mean_s']:.3f} / {m['median_s']:.3f}{extra}")
    for s in slicers:
        if "bbox_vs_prusa_max_mm" in summary[s]:
            m = summary[s]
            print(f"  {s} bbox vs PrusaSlicer: max {m['bbox_vs_prusa_max_mm']:.3f} mm, median "
                  f"{m['bbox_vs_prusa_median_mm']:.3f} mm, within 1 mm: {m['bbox_within_1mm']}")
    for s, ids in failed.items():
        if ids:
            print(f"  {s} refused {len(ids)}: {', '.join(ids)}")
    if skipped:
        print(f"  not run (not installed): {', '.join(skipped)}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
