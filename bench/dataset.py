"""Dataset build time of the full presets, with the split between slicing, parsing,
rendering and writing.

    python bench/dataset.py [--presets 61k,c3po] [--sample 24]

Each preset is built in full (61,340 images; 62,200 projections + 671,677 camera
frames) into a fresh folder under data/build/bench-PRESET, on all cores, reading the
slices from the shared slice cache (data/build/slice-cache) when they are there: the
measured wall time is then rendering, parsing and writing. Slicing the preset's
objects from scratch is measured on ``--sample`` objects of its plan (built-in slicer,
no cache, one core) and scaled to all objects over the cores; the estimate of a build
from nothing is the measured build plus that. Targets: 61k in 10 min, c3po in 60 min.
Writes bench/results/dataset.json.
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
    args = ap.parse_args()
    from c3po.dataset import DatasetConfig, build

    results = {}
    for preset in args.presets.split(","):
        cfg = DatasetConfig.from_preset(preset, slice_cache=str(ROOT / "data" / "build" / "slice-cache"))
        out = ROOT / "data" / "build" / f"bench-{preset}"
        shutil.rmtree(out, ignore_errors=True)
        t = build(cfg, out, workers=args.workers, progress=True)
        cost = slicing_cost(cfg, args.sample)
        scratch_slice_wall = cost["cpu_s_per_object"] * cost["objects"] / args.workers
        r = {"images": t["proj"] + t["seq"], "projections": t["proj"], "camera_frames": t["seq"],
             "objects_failed": t["errors"], "wall_s_with_slice_cache": round(t["wall"], 1),
             "cpu_s": {k: round(t[k], 1) for k in ("slice", "parse", "render", "write")},
             "slicing_from_scratch": {**cost, "wall_s_estimate": round(scratch_slice_wall, 1)},
             "wall_min_from_scratch_estimate": round((t["wall"] + scratch_slice_wall) / 60, 1),
             "target_min": TARGET_MIN[preset]}
        results[preset] = r
        print(preset, json.dumps(r, indent=1), flush=True)
        shutil.rmtree(out, ignore_errors=True)  # gigabytes: the benchmark keeps only its numbers
    path = ROOT / "bench" / "results" / "dataset.json"
    path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
