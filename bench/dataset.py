"""Dataset build time of the full presets, with the split between slicing, parsing,
rendering and writing.

    python bench/dataset.py [--presets 61k,c3po] [--sample 24] [--from-scratch]

Each preset is built in full (61,340 images; 62,200 projections + 671,677 camera
frames) into a fresh folder under data/build/bench-PRESET, on all cores, reading the
slices from the shared slice cache (data/build/slice-cache) when they are there: the
measured wall time is then rendering, parsing and writing. Slicing the preset's
objects from scratch is measured on ``--sample`` objects of its plan (built-in slicer,
no cache, one core) and scaled to all objects over the cores; the estimate of a build
from nothing is the measured build plus that. ``--from-scratch`` times a build from
nothing instead (an empty slice cache of its own). Targets: 61k in 10 min, c3po in 60
min. Updates the presets' entries in bench/results/dataset.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_MIN = {"61k": 10, "c3po": 60}


def slicing_cost(cfg, sample: int) -> dict:
    """CPU seconds per object to slice ``sample`` objects of the plan from scratch."""
    from c3po.dataset import plan
    from c3po.shapes.pose import apply_pose, random_pose
    from c3po.slicer import slice_mesh

    _, shards = plan(cfg)
    units = [u for units in shards for u in units]
    rng = np.random.default_rng(0)
    picks = rng.choice(len(units), min(sample, len(units)), replace=False)
    cpu = []
    for i in picks:
        u = units[int(i)]
        t = time.process_time()
        slice_mesh(apply_pose(u.spec.mesh(), random_pose(np.random.default_rng([cfg.seed, int(i)]))))
        cpu.append(time.process_time() - t)
    return {"objects": len(units), "sampled": len(cpu), "cpu_s_per_object": float(np.mean(cpu))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="61k,c3po")
    ap.add_argument("--sample", type=int, default=24, help="objects sliced from scratch to estimate slicing")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--from-scratch", action="store_true", help="time a build from nothing: no slice cache")
    args = ap.parse_args()
    from c3po.dataset import DatasetConfig, build

    path = ROOT / "bench" / "results" / "dataset.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for preset in args.presets.split(","):
        out = ROOT / "data" / "build" / f"bench-{preset}"
        cache = ROOT / "data" / "build" / ("bench-empty-cache" if args.from_scratch else "slice-cache")
        for folder in [out] + ([cache] if args.from_scratch else []):
            shutil.rmtree(folder, ignore_errors=True)
        cfg = DatasetConfig.from_preset(preset, slice_cache=str(cache))
        t = build(cfg, out, workers=args.workers, progress=True)
        r = {"images": t["proj"] + t["seq"], "projections": t["proj"], "camera_frames": t["seq"],
             "objects_failed": t["errors"], "cpu_s": {k: round(t[k], 1) for k in ("slice", "parse", "render", "write")},
             "target_min": TARGET_MIN[preset]}
        if args.from_scratch:
            r["wall_min_from_scratch"] = round(t["wall"] / 60, 1)
        else:
            cost = slicing_cost(cfg, args.sample)
            scratch_slice_wall = cost["cpu_s_per_object"] * cost["objects"] / args.workers
            r.update(wall_s_with_slice_cache=round(t["wall"], 1),
                     slicing_from_scratch={**cost, "wall_s_estimate": round(scratch_slice_wall, 1)},
                     wall_min_from_scratch_estimate=round((t["wall"] + scratch_slice_wall) / 60, 1))
        results[preset + (" from scratch" if args.from_scratch else "")] = r
        print(preset, json.dumps(r, indent=1), flush=True)
        for folder in [out] + ([cache] if args.from_scratch else []):  # gigabytes: keep only the numbers
            shutil.rmtree(folder, ignore_errors=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
