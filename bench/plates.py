"""Thin plates printed alone (signs, plaques, tags, coasters): how many are flagged.

    python bench/plates.py [--model DIR ...] [--seed 4242] [--slicer builtin --slicer prusa ...] [--n 40]

``other``'s plate maker (``c3po.shapes.generic._plate``: stretched polygons and ellipses,
rounded rectangles, wavy discs and bracket letters, 1.2-5 mm thick, with rims, holes and
lettering), each plate alone and lying flat as it is printed, sliced by each slicer. The
maker is the one ``other`` trains on, so this shows whether a model learned plates, not
how it generalises. Every bundle scans the same prints in one process, as ``c3po scan`` does.
Writes bench/results/plates.json and bench/results/plates.png (the plates the first
bundle flags, as its network sees them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import suite

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _slice_plate(job) -> tuple[str, str | None]:
    from c3po.slicer import slice_mesh

    out, mesh, slicer = job
    return suite._cached(out, lambda: slice_mesh(mesh, slicer=slicer))


def plate_prints(seed: int, slicer: str, n: int, workers: int = 2) -> list[dict]:
    """[{path, label, slicer}] for the first ``n`` plates drawn from one generator of
    ``seed``, sliced by ``slicer``."""
    from c3po.shapes.generic import _plate
    from c3po.shapes.geometry import finish

    rng = np.random.default_rng(seed)
    folder = suite.CACHE / "plates" / f"{seed}-{slicer}"
    jobs = [(folder / f"plate_{i:03d}.gcode.gz", finish(_plate(rng)), slicer) for i in range(n)]
    return [{"path": path, "label": "other", "slicer": slicer}
            for _, path in suite._slice_all(_slice_plate, jobs, lambda j: f"{j[0].name} with {slicer}", workers)]


def plot(flagged: list[tuple[str, str, str, float]], path: Path, model: str, cols: int = 5) -> None:
    """The top view (as ``model``'s network sees it) of each flagged plate, with its slicer,
    predicted class and weapon score: (slicer, G-code path, class, score) each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from c3po.detect import Detector, load_toolpath

    det = Detector.from_bundle(model)
    rows = max(-(-len(flagged) // cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (slicer, gcode, pred, score) in zip(axes.flat, flagged):
        ax.imshow(det.parts(load_toolpath(gcode, gcode))[0][0][0], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{Path(gcode).name[:9]} {slicer}\n{pred} {score:.2f}", fontsize=8)
    fig.suptitle(f"thin plates flagged by {Path(model).name}: the top view its network sees", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=None, help="bundle folder (repeat; default: models/default)")
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--slicer", action="append", choices=("builtin", "prusa", "cura"), default=None,
                    help="repeat; default: all three")
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    models = args.model or [str(ROOT / "models" / "default")]
    result = {"seed": args.seed, "plates": args.n, "models": {m: {} for m in models}}
    first = []  # (slicer, path, class, score) of the plates the first bundle flags
    for slicer in args.slicer or ["builtin", "prusa", "cura"]:
        items = plate_prints(args.seed, slicer, args.n)
        for m in models:
            scans = suite.scan_all(items, Path(m))
            flagged = [f"{Path(s['path']).name} ({s['pred']}, {s['score']:.2f})" for s in scans
                       if s["verdict"] == "weapon"]
            result["models"][m][slicer] = {
                "plates": len(items), "flagged": len(flagged), "flagged_files": flagged,
                "while_printing": sum(s["verdict"] == "weapon" and s["flag_layer"] < s["layers"] for s in scans)}
            print(f"{slicer:8s} {m}: {len(flagged)}/{len(items)} plates flagged {flagged}")
            if m == models[0]:
                first += [(slicer, s["path"], s["pred"], s["score"]) for s in scans if s["verdict"] == "weapon"]
        base = result["models"][models[0]][slicer]["flagged"]
        for m in models[1:]:
            print(f"{slicer:8s} plates flagged, {m} vs {models[0]}: "
                  f"{result['models'][m][slicer]['flagged']} against {base}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(first, RESULTS / "plates.png", models[0])
    out = RESULTS / "plates.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
