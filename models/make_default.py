"""Recipe for models/default: build the datasets, train the three models, assemble the bundle.

    python models/make_default.py [--c3po-scale 1.0] [--skip-build] [--device cuda]

1. ``61k`` preset (61,340 images, 28x28)       -> lenet5     (the 61k study's setting)
2. ``c3po`` preset at ``--c3po-scale`` with    -> multiview  (projections, also of partly
   the extra class ``other`` (generic parts),     printed objects) and sequence (frames)
   each object sliced with its own random print settings (``--vary-settings``), its
   projections turned to the footprint's principal axis (``--canonical``), a share
   ``TILT`` of the objects tipped about a horizontal axis (``--tilt``), a share ``VASE``
   sliced in spiral vase mode (``--vase``), a share ``ASSEMBLED`` of the grip-and-body
   classes built by their assembled variants (``--assembled``)
3. models/default/: ``projection`` = an ensemble of ``MEMBERS`` multiview networks
   (what the detector runs; each trained for ``MEMBER_EPOCHS`` epochs with its own
   seed, the members' probabilities averaged), ``camera`` = sequence, ``lenet5`` =
   lenet5; bundle.json carries classes, render settings, threshold, streaming policy
   and the test metrics of each model (the ensemble's own, in models/runs/ensemble).

Every run folder (models/runs/NAME) keeps its config, checkpoint, curves and test report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "data" / "build"
RUNS = ROOT / "models" / "runs"
OUT = ROOT / "models" / "default"
STREAM = {"step_mm": 1.0, "step_frac": 0.1, "ema": 0.5, "min_height_mm": 2.0, "rules": [{"threshold": 0.5, "hold": 2}]}
CLASSES = "pistol,revolver,rifle,drill,hair_dryer,stapler,hammer,wrench,mug,gear,other"
#: the detector judges no object smaller than this (largest extent so far, mm) a weapon:
#: well under half the smallest weapon the generators make (147 mm long at pose scale
#: 0.5: 74 mm), so a letter, a gear's tooth or a tiny part, blown up to the image size,
#: is never taken for a gun
MIN_WEAPON_MM = 30.0
#: share of c3po objects tipped 5-90 degrees about a horizontal axis: a model trained
#: without them flagged 22-33% of the benchmark's tipped guns (bench/accuracy.py)
TILT = 0.35
#: share of c3po objects sliced in spiral vase mode (one wall, the bottom solid layers,
#: no infill, no top): without them the detector judged 2 of 9 unseen vase pistols
#: `other` (a shell's top view is an outline, every training pistol's is filled)
VASE = 0.15
#: share of the objects of the grip-and-body classes (the weapons, drill, hair dryer,
#: stapler, hammer) built by their assembled variants (c3po.shapes.assembled): none. A
#: pair trained with 0.35 (session 31, ``c3po20``) flagged 38 of 54 guns of another
#: family (bench/suite.py, blocky) where the shipped pair flags 22, but, cross-validated
#: on the calibration prints, let 4 of 518 weapon prints finish unflagged and stopped 13
#: clear prints (the shipped pair: 0 and 6): not shipped (docs/model-history.md, session 31). A
#: share 0.15 (session 32, ``c3po21``): 39 of 54, and again 4 of 518 and 13 (the shipped
#: pair on the same prints: 0 and 5): not shipped either. Session 33 judged both again with a
#: rule that weighs a new sealed family (`sculpted`): 0.15 flags fewer of its guns than the
#: shipped pair, 0.35 flags 5 of 107 out-of-distribution meshes (shipped: 2): neither ships.
#: 0.35 with `other`'s assembled variant too (``c3po22``, brackets, rows, frames of the same
#: parts) flags 45 of 54 `outline` guns (shipped: 50): not shipped
ASSEMBLED = 0.0
#: the c3po preset as built here (one folder per recipe, caches differ). 300 objects per class
#: with members of 7 epochs (session 40, ``c3po23``/``c30``: the same cost) met more of the
#: issues' targets but flagged fewer guns of other families, again with seeds 3 and 4 (session 41,
#: ``c31``); pairs of one member of each recipe differ as widely: not shipped (docs/model-history.md)
DATA = "c3po19"
#: the projection model: MEMBERS multiview networks of MEMBER_EPOCHS epochs each, seeds
#: 1, 2, ...: two 10-epoch members cost the training time of one 20-epoch network and
#: stop weapons earlier at as few false stops on the calibration prints (docs/model-history.md, session 14).
#: 13 epochs each (session 39, ``c28``) fit the test split a little better but made the
#: calibrated policy stricter: 468 of 518 calibration weapon prints stopped while printing,
#: cross-validated, against 481; 15 epochs take 1,249 s on an Intel machine, over 20 minutes
MEMBERS = 2
MEMBER_EPOCHS = 10


def numbered(name: str, i: int) -> str:
    """The ``i``-th member's name (from 0): ``name``, ``name-2``, ``name-3``, ..."""
    return name if i == 0 else f"{name}-{i + 1}"


ROLES = {"projection": [numbered("multiview", i) for i in range(MEMBERS)],
         "camera": ["sequence"], "lenet5": ["lenet5"]}  # role -> run folders


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "c3po", *args], check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c3po-scale", type=float, default=1.0)
    ap.add_argument("--seq-frames", type=int, default=300_000, help="camera frames before scaling (the sequence "
                    "model is not what the detector runs; the full 671,677 would only cost disk and time)")
    ap.add_argument("--skip-build", action="store_true", help="datasets are already built")
    ap.add_argument("--skip-train", action="store_true", help="runs are already trained")
    ap.add_argument("--sequence-epochs", type=int, default=12)
    ap.add_argument("--device", default="cpu", help="torch device to train on (cuda where a GPU is present)")
    args = ap.parse_args()
    cache = str(BUILD / "slice-cache")
    if not args.skip_build:
        sh("dataset", "build", "--preset", "61k", "--out", str(BUILD / "61k"), "--slice-cache", cache)
        sh("dataset", "build", "--preset", "c3po", "--scale", str(args.c3po_scale), "--seq-frames",
           str(args.seq_frames), "--vary-settings", "--canonical", "--tilt", str(TILT), "--vase", str(VASE),
           "--assembled", str(ASSEMBLED), "--out", str(BUILD / DATA), "--classes", CLASSES, "--slice-cache", cache)
    if not args.skip_train:
        dev = ("--device", args.device)
        sh("train", "--model", "lenet5", "--data", str(BUILD / "61k"), "--out", str(RUNS / "lenet5"),
           "--epochs", "30", "--batch-size", "256", "--lr", "0.004", *dev)
        for seed, run in enumerate(ROLES["projection"], 1):
            sh("train", "--model", "multiview", "--data", str(BUILD / DATA), "--out", str(RUNS / run),
               "--epochs", str(MEMBER_EPOCHS), "--seed", str(seed), *dev)
        sh("train", "--model", "sequence", "--data", str(BUILD / DATA), "--out", str(RUNS / "sequence"),
           "--epochs", str(args.sequence_epochs), "--batch-size", "32", *dev)
    assemble(BUILD / DATA)
    add_novelty(BUILD / DATA)


def add_novelty(data: Path) -> None:
    """Fit each projection member's novelty gate (c3po.novelty) on the training split;
    the thresholds are chosen afterwards by models/calibrate.py."""
    import numpy as np

    from c3po import novelty
    from c3po.runtime import Network, load_safetensors, save_safetensors, weight_files
    from c3po.train import model_arrays

    meta = json.loads((OUT / "bundle.json").read_text())
    entry = meta["models"]["projection"]
    x, y, _ = model_arrays("multiview", data, "train")
    for name in weight_files(entry):
        weights = {k: v for k, v in load_safetensors(OUT / name).items() if not k.startswith("novelty.")}
        net = Network(entry["layers"], weights)
        feats = np.concatenate([net.features(x[i : i + 256].astype(np.float32) / 255.0)
                                for i in range(0, len(x), 256)])
        save_safetensors(OUT / name, {**weights, **novelty.fit(feats, y, len(meta["classes"]))},
                         {"model": entry["kind"]})
    print(f"novelty gates fitted on {len(x)} training samples of {data}")


def assemble(data: Path) -> None:
    """models/default from the run folders; a role whose run folders are missing keeps
    its current entry and weights (retrain one model, keep the others). An ensemble's
    test metrics are its own, on ``data``'s test split (report in models/runs/ensemble)."""
    from c3po.export import WEAPON_CLASSES, write_bundle
    from c3po.train import evaluate_entry

    OUT.mkdir(parents=True, exist_ok=True)
    models, classes = {}, None
    current = json.loads((OUT / "bundle.json").read_text()) if (OUT / "bundle.json").exists() else {"models": {}}
    for role, runs in ROLES.items():
        if not all((RUNS / run / "bundle" / "bundle.json").exists() for run in runs) and role in current["models"]:
            models[role] = current["models"][role]
            classes = classes or current["classes"]
            print(f"{role}: no runs {', '.join(runs)} in {RUNS}; kept the current {role} model")
            continue
        meta = json.loads((RUNS / runs[0] / "bundle" / "bundle.json").read_text())
        entry = next(iter(meta["models"].values()))
        entry["classes"] = meta["classes"]  # lenet5 has the 61k study's ten, the others add "other"
        classes = classes or meta["classes"]  # the bundle's classes: the projection model's
        files = [f"{numbered(role, i)}.safetensors" for i in range(len(runs))]
        for run, name in zip(runs, files):
            shutil.copy(RUNS / run / "bundle" / entry["weights"], OUT / name)
        tests = [json.loads((RUNS / run / "test" / "metrics.json").read_text()) for run in runs]
        entry["weights"] = files[0] if len(runs) == 1 else files
        entry["params"] *= len(runs)
        if len(runs) == 1:
            entry["metrics"] = tests[0]
        else:
            entry["metrics"] = evaluate_entry(OUT, entry, entry["classes"], WEAPON_CLASSES, 0.5, data, "test",
                                              RUNS / "ensemble" / "test", f"{role}: ensemble of {', '.join(runs)}",
                                              {"model": entry["kind"], "params": entry["params"], "data": str(data)})
            entry["metrics"].update(train_seconds=round(sum(t["train_seconds"] for t in tests), 1), runs=runs,
                                    members=[{k: t[k] for k in ("accuracy", "weapon_recall", "false_positive_rate",
                                                                "train_seconds")} for t in tests])
        entry["metrics"].pop("confusion", None)
        if role == "projection":
            entry["min_weapon_mm"] = MIN_WEAPON_MM
        models[role] = entry
    write_bundle(OUT, classes, models, threshold=0.5, stream=STREAM,
                 metrics={role: {k: m["metrics"].get(k) for k in ("n", "accuracy", "weapon_recall",
                                                                   "false_positive_rate", "roc_auc", "train_seconds")}
                          for role, m in models.items()})
    print(f"wrote {OUT}/bundle.json")


if __name__ == "__main__":
    main()
