"""Regenerate data/samples/{pistol,mug}.gcode.gz: procedural objects no dataset uses
(object seed from dataset seed 4242), lying flat, sliced by the built-in slicer.

    python data/make_samples.py
"""

import gzip
from pathlib import Path

from c3po.shapes.pose import Pose, apply_pose
from c3po.shapes.registry import create_shape
from c3po.shapes.source import object_seed
from c3po.slicer import slice_mesh

OUT = Path(__file__).resolve().parent / "samples"

for name in ("pistol", "mug"):
    mesh = apply_pose(create_shape(name, object_seed(name, 0, seed=4242)), Pose(angle=30.0))
    gcode = slice_mesh(mesh, slicer="builtin")
    (OUT / f"{name}.gcode.gz").write_bytes(gzip.compress(gcode, 9, mtime=0))
    print(OUT / f"{name}.gcode.gz", len(gcode), "bytes of G-code")
