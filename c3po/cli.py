"""The ``c3po`` command.

Each subcommand is a small ``cmd_*`` function over the public API; errors become one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
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

    det = Detector.from_bundle(args.model, threshold=args.threshold)
    flagged = failed = False
    if not args.json:
        print(f"{'file':40s} {'verdict':8s} {'label':11s} {'score':>6s} {'layers':>6s} {'flag at':>12s} {'ms':>7s}")
    for f in args.files:
        try:
            v = det.scan(f)
        except (C3POError, OSError) as exc:
            failed = True
            if args.json:
                print(json.dumps({"file": f, "error": str(exc)}), flush=True)
            else:
                print(f"{f:40s} ERROR    {exc}", flush=True)
            continue
        flagged |= v.verdict == "weapon"
        if args.json:
            print(json.dumps(v.to_json()), flush=True)
        else:
            at = "-" if v.flag_layer is None else f"{v.flag_layer} ({v.flag_fraction:.0%})"
            print(f"{f:40s} {v.verdict:8s} {v.label:11s} {v.score:6.3f} {v.layers:6d} {at:>12s} {v.ms:7.0f}", flush=True)
    return 2 if failed else int(flagged)


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on shipped defaults: summarise the sample G-code."""
    from c3po.gcode import parse_gcode

    samples = sorted(SAMPLES.glob("*.gcode*"))
    if not samples:
        raise C3POError(f"no sample G-code under {SAMPLES}; reinstall c3po from its repository")
    print(f"{'file':28s} {'lines':>9s} {'moves':>9s} {'layers':>6s} {'size mm':>20s} {'filament mm':>12s} {'ms':>7s}")
    for path in samples:
        t0 = time.perf_counter()
        s = parse_gcode(path).summary()
        ms = (time.perf_counter() - t0) * 1e3
        (lo, hi) = s["bbox"]
        size = " x ".join(f"{b - a:.1f}" for a, b in zip(lo, hi))
        print(f"{path.name:28s} {s['lines']:9,d} {s['moves']:9,d} {s['layers']:6d} {size:>20s} {s['filament_mm']:12,.1f} {ms:7.1f}")
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


if __name__ == "__main__":
    sys.exit(main())
