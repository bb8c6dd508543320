"""Accuracy of the shipped models on data they never saw.

    python bench/accuracy.py [--per-class 20]

* lenet5 on the object-disjoint test split of the 61k preset (target >= 99.5%);
* the detector (models/default) on held-out G-code (bench/suite.py): unseen objects in
  random poses, sliced by the built-in slicer, PrusaSlicer and CuraEngine, with their
  default settings and with random print settings per object (``*-varied``) — 10-class
  accuracy, weapon recall (target >= 99%) and false-positive rate (target <= 1%) per
  slicer, confusion matrices and ROC curves as PNGs;
* robustness (bench/suite.py ROBUSTNESS_SETUPS): unseen objects tipped 5-90 degrees about
  a horizontal axis (built-in slicer, PrusaSlicer, CuraEngine), sliced with supports, a
  brim or a raft or in spiral vase mode by PrusaSlicer and CuraEngine, and with layers
  thinner (0.08 mm) or thicker (0.36 mm, 0.7 mm lines) than any training print's by all
  three, and on a plate with two clear objects of other classes (all three slicers: a gun
  among other objects must be flagged, a plate of clear ones not); scaffolding prints are
  also scanned, as a baseline in the same process, as if the slicer's feature comments
  were stripped (every move the object's);
* other families of objects (bench/suite.py family_prints): weapons and look-alikes built
  from boxes and cylinders (``blocky``), cut out of hand-drawn outlines (``outline``) and
  sculpted from rounded lumps (``sculpted``), in proportions of their own, by all three
  slicers;
* out of distribution: PrusaSlicer's sample shapes and OpenSCAD's examples, sliced by the
  built-in slicer and PrusaSlicer: share flagged (target <= 1%); and, reported apart, more
  real meshes (suite.MORE_MESHES: printer-bed models, OpenCASCADE's sample parts) and
  simple prints standing as designed (suite.simple_prints: boxes, posts, tubes, cones;
  and a second set of other kinds: pawns, stepped pyramids, lamps, star prisms, spools,
  L-section posts);
* training time of each shipped model (target <= 20 min each).

Writes bench/results/accuracy.json and bench/results/accuracy_*.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: setups whose prints carry marked scaffolding (and a skirt), also judged with the comments stripped
SCAFFOLDED = ("supports", "brim", "raft", "vase")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=20, help="unseen objects per class of the six main setups (as bench/detect.py)")
    ap.add_argument("--robust-per-class", type=int, default=3, help="objects per class of each robustness setup")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    import suite

    from c3po.detect import DEFAULT_BUNDLE
    from c3po.evaluate import metrics, plot_confusion, plot_roc

    bundle_dir = Path(args.model) if args.model else DEFAULT_BUNDLE
    bundle = json.loads((bundle_dir / "bundle.json").read_text())
    classes, weapons = bundle["classes"], bundle["weapon_classes"]
    result = {"models": {role: m["metrics"] for role, m in bundle["models"].items()}}

    scans = suite.scan_all(suite.unseen(args.per_class), args.model)
    by_slicer, curves = {}, {}
    for slicer in sorted({s["slicer"] for s in scans}):
        rows = [s for s in scans if s["slicer"] == slicer]
        y = np.array([classes.index(s["label"]) for s in rows])
        pred = np.array([classes.index(s["pred"]) for s in rows])
        onehot = np.eye(len(classes))[pred]
        m = metrics(onehot, y, classes, weapons)
        flagged = np.array([s["verdict"] == "weapon" for s in rows])
        positive = np.isin(np.array([s["label"] for s in rows]), weapons)
        score = np.array([s["score"] for s in rows])
        by_slicer[slicer] = {
            "n": len(rows), "accuracy_10_class": m["accuracy"], "per_class_accuracy": m["per_class_accuracy"],
            "weapon_recall": float(flagged[positive].mean()), "false_positive_rate": float(flagged[~positive].mean()),
            "false_positives": [f"{Path(s['path']).name} ({s['pred']}, {s['score']:.2f}, stopped at "
                                f"{s['flag_fraction']:.0%})" for s in rows if s["verdict"] == "weapon"
                                and s["label"] not in weapons],
        }
        plot_confusion(np.array(m["confusion"]), classes, RESULTS / f"accuracy_confusion_{slicer}.png",
                       f"detector on unseen objects, sliced by {slicer}")
        curves[slicer] = (score, positive)
    plot_roc(curves, RESULTS / "accuracy_roc.png", "detector on unseen objects, by slicer")
    result["unseen_objects"] = by_slicer

    result["robustness"] = robustness(suite.unseen(args.robust_per_class, suite.ROBUSTNESS_SETUPS), args.model)
    result["other_families"] = robustness([p for f in suite.FAMILIES for p in suite.family_prints(f)], args.model)

    clear_sets = {  # key in accuracy.json: (what it is, its prints)
        "out_of_distribution": ("out of distribution", suite.out_of_distribution()),
        "out_of_distribution_more": ("more real meshes", suite.out_of_distribution(more=True)),
        "simple_prints": ("simple prints standing", suite.simple_prints()),
        "simple_prints_more": ("more simple prints standing", suite.simple_prints(suite.MORE_SIMPLE_KINDS)),
    }
    for key, (_, items) in clear_sets.items():
        ood = suite.scan_all(items, args.model)
        result[key] = {
            "n": len(ood), "flagged": sum(s["verdict"] == "weapon" for s in ood),
            "flagged_share": sum(s["verdict"] == "weapon" for s in ood) / max(len(ood), 1),
            "flagged_files": [f"{s['name']} ({s['slicer']}, {s['pred']}, {s['score']:.2f})" for s in ood
                              if s["verdict"] == "weapon"],
        }
    result["targets"] = {"lenet5_61k_accuracy": 0.995, "weapon_recall": 0.99, "fpr": 0.01, "ood_flagged": 0.01,
                         "train_minutes": 20}
    out = RESULTS / "accuracy.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for role, m in result["models"].items():
        print(f"{role:10s} test accuracy {m.get('accuracy')}, trained in {m.get('train_seconds')} s")
    for slicer, m in by_slicer.items():
        print(f"detector [{slicer:14s}] n={m['n']}: 10-class {m['accuracy_10_class']:.3f}, weapon recall "
              f"{m['weapon_recall']:.3f}, false positives {m['false_positive_rate']:.3f}")
    for setup, m in {**result["robustness"], **result["other_families"]}.items():
        a, b = m["as_shipped"], m.get("comments_stripped")
        acc = "-" if a["accuracy_10_class"] is None else f"{a['accuracy_10_class']:.3f}"
        print(f"detector [{setup:14s}] n={a['n']}: 10-class {acc}, weapon recall "
              f"{a['weapon_recall']:.3f} ({a['stopped_while_printing']} of {a['weapons']} stopped while printing), "
              f"false positives {a['false_positive_rate']:.3f}" + (f" (comments stripped: {b['accuracy_10_class']:.3f}, "
              f"{b['weapon_recall']:.3f}, {b['false_positive_rate']:.3f})" if b else ""))
    for key, (what, _) in clear_sets.items():
        o = result[key]
        print(f"{what}: {o['flagged']}/{o['n']} flagged ({o['flagged_share']:.1%}) {o['flagged_files']}")
    print(f"wrote {out.relative_to(ROOT)}")


def robustness(items: list[dict], model: str | None) -> dict:
    """Per setup, the detector's 10-class accuracy, weapon recall, false-positive rate and
    weapons stopped while printing: as shipped and, for prints with scaffolding, with every
    move taken as the object's (what the slicer's feature comments being stripped would give)."""
    import dataclasses

    from tqdm import tqdm

    from c3po.detect import Detector
    from c3po.gcode import parse_gcode

    det = Detector.from_bundle(model)
    weapons = set(det.bundle["weapon_classes"])
    rows = {}
    for it in tqdm(items, desc="robustness", leave=False):
        tp = parse_gcode(it["path"])
        variants = [("as_shipped", tp)]
        if it["slicer"].partition("-")[2] in SCAFFOLDED:
            variants.append(("comments_stripped", dataclasses.replace(tp, aux=np.zeros_like(tp.aux))))
        for how, path in variants:
            v = det.scan(path, curve=False)
            rows.setdefault(it["slicer"], {}).setdefault(how, []).append((it["label"], v, Path(it["path"]).name))
    out = {}
    for setup, hows in rows.items():
        out[setup] = {}
        plate = setup.endswith("-plate")  # a plate's label is its most weapon-like object's: no class accuracy
        for how, rs in hows.items():
            pos = [v for label, v, _ in rs if label in weapons]
            neg = [v for label, v, _ in rs if label not in weapons]
            out[setup][how] = {
                "n": len(rs),
                "accuracy_10_class": None if plate else float(np.mean([v.label == label for label, v, _ in rs])),
                "weapon_recall": float(np.mean([v.verdict == "weapon" for v in pos])),
                "stopped_while_printing": sum(v.flag_layer is not None and v.flag_layer < v.layers for v in pos),
                "median_stop": float(np.median([v.flag_fraction if v.flag_fraction is not None else 1.0 for v in pos]))
                if pos else None,
                "weapons": len(pos), "false_positive_rate": float(np.mean([v.verdict == "weapon" for v in neg])),
                "errors": [f"{name} ({v.label}, {v.verdict}, {v.score:.2f})" for label, v, name in rs
                           if (v.label != label and not plate) or (v.verdict == "weapon") != (label in weapons)],
            }
    return out


if __name__ == "__main__":
    main()
