"""The ``c3po`` command.

Each subcommand is a small ``cmd_*`` function over the public API; errors become one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from c3po.errors import C3POError

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def cmd_parse(args: argparse.Namespace) -> int:
    from c3po.gcode import parse_gcode

    t0 = time.perf_counter()
    tp = parse_gcode(args.file)
    dt = time.perf_counter() - t0
    s = tp.summary()
    if args.json:
        print(json.dumps(s))
        return 0
    box = s["bbox"]
    size = "-" if box is None else " x ".join(f"{hi - lo:.2f}" for lo, hi in zip(*box))
    print(f"{args.file}")
    print(f"  lines          {s['lines']:,}  ({s['lines'] / max(dt, 1e-9) / 1e6:.1f} M lines/s)")
    print(f"  moves          {s['moves']:,}  ({s['extrude_moves']:,} extruding)")
    print(f"  layers         {s['layers']:,}")
    print(f"  size (mm)      {size}")
    print(f"  bbox (mm)      {box}")
    print(f"  filament (mm)  {s['filament_mm']:,.1f}")
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    """Judge files; exit 0 nothing flagged, 1 something flagged, 2 an error."""
    from c3po.detect import Detector

    det = Detector.from_bundle(args.model, threshold=args.threshold).warm_up()  # ms: each file's own cost
    flagged = failed = False
    w = max([40, *map(len, args.files)])  # the file column fits the longest name
    if not args.json:
        print(f"{'file':{w}s} {'verdict':8s} {'label':11s} {'score':>6s} {'layers':>6s} {'flag at':>12s} {'ms':>7s}")
    for f in args.files:
        try:
            v = det.scan(f, curve=False)  # the curve is not printed: look only where the verdict needs it
        except (C3POError, OSError) as exc:
            failed = True
            if args.json:
                print(json.dumps({"file": f, "error": str(exc)}), flush=True)
            else:
                print(f"{f:{w}s} ERROR    {exc}", flush=True)
            continue
        flagged |= v.verdict == "weapon"
        if args.json:
            print(json.dumps(v.to_json()), flush=True)
        else:
            at = "-" if v.flag_layer is None else f"{v.flag_layer} ({v.flag_fraction:.0%})"
            print(f"{f:{w}s} {v.verdict:8s} {v.label:11s} {v.score:6.3f} {v.layers:6d} {at:>12s} {v.ms:7.0f}", flush=True)
    return 2 if failed else int(flagged)


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on shipped defaults: scan the sample prints with the shipped model."""
    samples = sorted(SAMPLES.glob("*.gcode*"))
    if not samples:
        raise C3POError(f"no sample G-code under {SAMPLES}; reinstall c3po from its repository")
    args.files, args.json, args.model, args.threshold = [str(p) for p in samples], False, None, None
    status = cmd_scan(args)
    print("\nweapon prints are flagged at the layer where a live print would be stopped (flag at).")
    print("Try the web app:  .venv/bin/streamlit run app/streamlit_app.py")
    return 0 if status in (0, 1) else status


def cmd_render(args: argparse.Namespace) -> int:
    """Projections and camera frames of one G-code file, as one PNG."""
    from c3po.gcode import parse_gcode
    from c3po.render import save_views

    tp = parse_gcode(args.file)
    if not tp.extrude.any():
        raise C3POError(f"{args.file}: no extruding moves, nothing to render")
    save_views(tp, args.out, size=args.size, title=Path(args.file).name)
    print(args.out)
    return 0


def cmd_dataset_build(args: argparse.Namespace) -> int:
    """Objects -> slicing -> rendering -> shards, manifest and config."""
    from c3po.dataset import DatasetConfig, build

    cfg = DatasetConfig.from_preset(args.preset, per_class=args.per_class, source=args.source, slicer=args.slicer,
                                    seed=args.seed, scale=args.scale, slice_cache=args.slice_cache,
                                    proj_images=args.proj_images, proj_partial=args.proj_partial,
                                    seq_frames=args.seq_frames,
                                    vary_settings=args.vary_settings or None, canonical=args.canonical or None,
                                    tilt=args.tilt, vase=args.vase, assembled=args.assembled,
                                    classes=args.classes.split(",") if args.classes else None)
    t = build(cfg, args.out, workers=args.workers, progress=not args.quiet)
    split = " ".join(f"{k} {t[k]:.1f}s" for k in ("slice", "parse", "render", "write"))
    print(f"{args.out}: {t['proj']:,} projections, {t['seq']:,} camera frames, {len(t['classes'])} classes, "
          f"{t['shards']} shards ({t['shards_built']} built now), {t['errors']} objects failed; "
          f"{t['wall']:.1f}s wall; CPU time: {split}")
    return 0


def cmd_dataset_preview(args: argparse.Namespace) -> int:
    """A grid of samples per class of a built dataset."""
    from c3po.dataset import preview

    preview(args.dir, args.out, per_class=args.per_class)
    print(args.out)
    return 0


def cmd_slice(args: argparse.Namespace) -> int:
    """Mesh file -> G-code file with the built-in slicer or a real one."""
    from c3po.slicer import SliceConfig, slice_mesh

    cfg = SliceConfig(layer_height=args.layer_height, infill_density=args.infill, perimeters=args.perimeters)
    t0 = time.perf_counter()
    gcode = slice_mesh(args.mesh, slicer=args.slicer, config=cfg)
    Path(args.out).write_bytes(gcode)
    print(f"{args.out}: {len(gcode):,} bytes by {args.slicer} in {time.perf_counter() - t0:.2f}s")
    return 0


def cmd_shapes_sheet(args: argparse.Namespace) -> int:
    """Contact sheet of the procedural object library."""
    from c3po.shapes.sheet import contact_sheet

    classes = args.classes.split(",") if args.classes else None
    print(contact_sheet(args.out, classes=classes, per_class=args.per_class, seed=args.seed, view=args.view))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a registered model on a built dataset; export its bundle; report test metrics."""
    from c3po.train import TrainConfig, run

    cfg = TrainConfig(model=args.model, data=args.data, out=args.out or f"models/runs/{args.model}",
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      threads=args.threads, augment=not args.no_augment, resume=args.resume,
                      device=args.device)
    m = run(cfg)
    print(f"{cfg.out}: test accuracy {m['accuracy']:.4f}, weapon recall {m['weapon_recall']}, "
          f"false-positive rate {m['false_positive_rate']}, {m['train_seconds']:.0f}s training; bundle in {cfg.out}/bundle")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a bundle's model on a split of a built dataset (numpy runtime, as shipped)."""
    from c3po.train import evaluate_entry

    bundle_dir = Path(args.model)
    meta = json.loads((bundle_dir / "bundle.json").read_text())
    role = args.role or next(iter(meta["models"]))
    entry = meta["models"][role]
    m = evaluate_entry(bundle_dir, entry, entry.get("classes", meta["classes"]), meta["weapon_classes"],
                       meta["threshold"], args.data, args.split, args.out, f"{role} on {args.split}")
    print(f"{args.out}: accuracy {m['accuracy']:.4f}, weapon recall {m['weapon_recall']}, "
          f"false-positive rate {m['false_positive_rate']}, ROC AUC {m['roc_auc']:.4f} (n={m['n']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="c3po", description="Stop 3D printers from printing guns.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("parse", help="parse a G-code file and summarise its toolpath")
    s.add_argument("file", help=".gcode or .gcode.gz file")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_parse)

    s = sub.add_parser("scan", help="judge G-code or mesh files: weapon or clear")
    s.add_argument("files", nargs="+", metavar="FILE", help=".gcode, .gcode.gz, .stl, .obj, .3mf")
    s.add_argument("--json", action="store_true", help="one JSON object per file per line")
    s.add_argument("--model", default=None, help="model bundle directory (default: models/default)")
    s.add_argument("--threshold", type=float, default=None, help="weapon score threshold (default: the bundle's)")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("demo", help="run the main job on the shipped samples")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("render", help="draw a G-code file: projections and camera frames (PNG)")
    s.add_argument("file", help=".gcode or .gcode.gz file")
    s.add_argument("--out", default="views.png", help="PNG to write (default: views.png)")
    s.add_argument("--size", type=int, default=128, help="image side in pixels (default: 128)")
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("dataset", help="build or preview a dataset of rendered G-code")
    dsub = s.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    d = dsub.add_parser("build", help="objects -> slicing -> rendering -> shards + manifest.csv")
    d.add_argument("--preset", choices=["61k", "c3po"], default="61k", help="dataset preset (default: 61k)")
    d.add_argument("--out", required=True, help="output folder (an interrupted build resumes)")
    d.add_argument("--per-class", type=int, default=None, help="objects per class (default: 200)")
    d.add_argument("--source", default=None, help="'procedural' (default) or a folder ROOT/<class>/*.stl|*.gcode")
    d.add_argument("--slicer", default=None, choices=["builtin", "prusa", "cura", "mix"], help="default: builtin")
    d.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    d.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    d.add_argument("--scale", type=float, default=None, help="build this fraction of the preset (default: 1)")
    d.add_argument("--proj-images", type=int, default=None, help="projections in all, before --scale (default: preset's)")
    d.add_argument("--proj-partial", type=float, default=None, help="share of the extra projection poses drawn "
                   "from a partly printed object (default: preset's)")
    d.add_argument("--vary-settings", action="store_true",
                   help="slice each object with its own random print settings (layer height, width, walls, infill)")
    d.add_argument("--seq-frames", type=int, default=None, help="camera frames in all, before --scale (default: preset's)")
    d.add_argument("--tilt", type=float, default=None,
                   help="share of objects tipped 5-90 degrees about a horizontal axis (default: 0)")
    d.add_argument("--vase", type=float, default=None,
                   help="share of objects sliced in spiral vase mode: one wall, no infill, no top (default: 0)")
    d.add_argument("--assembled", type=float, default=None,
                   help="share of the objects of each class with an assembled variant built by it: parts joined "
                        "from blocks and rods in proportions of their own (default: 0)")
    d.add_argument("--canonical", action="store_true",
                   help="turn each projection so the footprint's principal axis lies along +x (poses jitter it)")
    d.add_argument("--classes", default=None,
                   help="comma-separated classes (default: the ten default classes; add 'other' for generic parts)")
    d.add_argument("--slice-cache", default=None, help="folder of sliced G-code shared by builds (default: none)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_dataset_build)
    d = dsub.add_parser("preview", help="PNG grid of samples per class")
    d.add_argument("dir", help="a built dataset folder")
    d.add_argument("--out", default="grid.png", help="PNG to write (default: grid.png)")
    d.add_argument("--per-class", type=int, default=8, help="samples of each kind per class (default: 8)")
    d.set_defaults(func=cmd_dataset_preview)

    s = sub.add_parser("slice", help="slice a mesh (STL/OBJ/PLY/3MF) into G-code")
    s.add_argument("mesh", help="mesh file")
    s.add_argument("-o", "--out", required=True, help="G-code file to write")
    s.add_argument("--slicer", choices=["builtin", "prusa", "cura"], default="builtin", help="default: builtin")
    s.add_argument("--layer-height", type=float, default=0.2, help="mm (default: 0.2)")
    s.add_argument("--infill", type=float, default=0.2, help="infill density 0..1 (default: 0.2)")
    s.add_argument("--perimeters", type=int, default=2, help="walls (default: 2)")
    s.set_defaults(func=cmd_slice)

    s = sub.add_parser("shapes", help="the procedural object library")
    ssub = s.add_subparsers(dest="shapes_command", required=True, metavar="ACTION")
    d = ssub.add_parser("sheet", help="PNG contact sheet: instances of every class")
    d.add_argument("--out", default="sheet.png", help="PNG to write (default: sheet.png)")
    d.add_argument("--per-class", type=int, default=6, help="instances per class (default: 6)")
    d.add_argument("--classes", default=None, help="comma-separated classes (default: all)")
    d.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    d.add_argument("--view", choices=["iso", "top"], default="iso", help="default: iso")
    d.set_defaults(func=cmd_shapes_sheet)

    s = sub.add_parser("train", help="train a CNN on a built dataset")
    s.add_argument("--model", default="lenet5", choices=["lenet5", "multiview", "sequence"])
    s.add_argument("--data", required=True, help="a built dataset folder")
    s.add_argument("--out", default=None, help="run folder (default: models/runs/MODEL)")
    s.add_argument("--epochs", type=int, default=12)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=3e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    s.add_argument("--no-augment", action="store_true")
    s.add_argument("--device", default="cpu", help="torch device to train on (cpu, or cuda where a GPU is present)")
    s.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="evaluate a model bundle on a built dataset")
    s.add_argument("--model", required=True, help="bundle folder (bundle.json + weights)")
    s.add_argument("--role", default=None, help="which model of the bundle (default: the first)")
    s.add_argument("--data", required=True, help="a built dataset folder")
    s.add_argument("--split", default="test", choices=["train", "val", "test"])
    s.add_argument("--out", default="evaluation", help="folder for metrics.json, confusion.png, roc.png")
    s.set_defaults(func=cmd_evaluate)

    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except C3POError as exc:
        print(f"c3po: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("c3po: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path the user named: missing, unwritable, a folder, a full disk
        print(f"c3po: error: {exc}; check the path and its permissions", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
