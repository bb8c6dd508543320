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
