"""Weapons and look-alikes of families no generator draws, judged by one or more bundles.

    python bench/families.py [--model DIR ...] [--family blocky --family outline --family sculpted] [--draw K]

``bench/suite.py family_prints``: ``blocky`` (built from boxes and cylinders, seed 5050),
``outline`` (cut out of hand-drawn outlines, seed 6060) and ``sculpted`` (rounded lumps:
hulls of spheres, sphere-swept tubes; seed 7070), 6 objects per class in random rests,
sliced by the built-in slicer, PrusaSlicer and CuraEngine. Every bundle scans the same
prints in one process (the first is the baseline: models/default unless given), as
``c3po scan`` does: per class, prints flagged, flagged while printing and the predicted
classes. Writes bench/results/families.json and bench/results/families.png;
``--draw K`` scans the K-th next 6 objects of each class instead (new objects of the same
families, for a check after the first draw has steered a choice) and writes
families-drawK.json and .png.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import suite

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def summarise(rows: list[dict], weapons: set[str]) -> dict:
    """Per class and for guns and look-alikes in all: n, flagged, while printing, predictions."""
    by = collections.defaultdict(list)
    for r in rows:
        by[r["label"]].append(r)
    out = {}
    for label, rs in by.items():
        flagged = [r for r in rs if r["verdict"] == "weapon"]
        out[label] = {"n": len(rs), "flagged": len(flagged),
                      "while_printing": sum(r["flag_layer"] is not None and r["flag_layer"] < r["layers"]
                                            for r in flagged),
                      "predicted": dict(collections.Counter(r["pred"] for r in rs).most_common())}
    groups = {"guns": [v for label, v in out.items() if label in weapons],
              "look_alikes": [v for label, v in out.items() if label not in weapons]}
    return {**out, **{g: {k: sum(v[k] for v in rs) for k in ("n", "flagged", "while_printing")}
                      for g, rs in groups.items()}}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(result["families"])
    fig, axes = plt.subplots(1, len(families), figsize=(6 * len(families), 3.6), squeeze=False)
    for ax, family in zip(axes[0], families):
        models = result["families"][family]
        labels = [k for k in next(iter(models.values())) if k not in ("guns", "look_alikes")]
        width = 0.8 / len(models)
        for j, (name, s) in enumerate(models.items()):
            ax.bar([i + j * width for i in range(len(labels))], [s[k]["flagged"] / s[k]["n"] for k in labels],
                   width, label=f"{name}: guns {s['guns']['flagged']}/{s['guns']['n']}, "
                   f"look-alikes {s['look_alikes']['flagged']}/{s['look_alikes']['n']}")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, rotation=30)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share flagged")
        ax.set_title(f"family {family}")
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=None, help="bundle folder (repeat; default: models/default)")
    ap.add_argument("--family", action="append", choices=tuple(suite.FAMILIES), default=None)
    ap.add_argument("--draw", type=int, default=0, help="scan the K-th next 6 objects of each class (default: 0)")
    args = ap.parse_args()
    models = args.model or [str(ROOT / "models" / "default")]
    result = {"models": models, "draw": args.draw, "families": {}}
    weapons = set(json.loads((Path(models[0]) / "bundle.json").read_text())["weapon_classes"])
    for family in args.family or list(suite.FAMILIES):
        items = suite.family_prints(family, draw=args.draw)
        result["families"][family] = {m: summarise(suite.scan_all(items, Path(m)), weapons) for m in models}
        for m, s in result["families"][family].items():
            g, c = s["guns"], s["look_alikes"]
            print(f"{family:8s} {m}: guns flagged {g['flagged']}/{g['n']} ({g['while_printing']} while printing), "
                  f"look-alikes flagged {c['flagged']}/{c['n']}")
        if len(models) > 1:
            base = result["families"][family][models[0]]["guns"]["flagged"]
            for m in models[1:]:
                mine = result["families"][family][m]["guns"]["flagged"]
                print(f"{family:8s} guns flagged, {m} vs {models[0]}: {mine / max(base, 1):.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"families-draw{args.draw}" if args.draw else "families"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, RESULTS / f"{name}.png")
    print(f"wrote {RESULTS / name}.json")


if __name__ == "__main__":
    main()
