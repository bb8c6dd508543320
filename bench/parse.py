"""Parse speed: c3po against gcodeparser, pygcode and a plain Python loop, in one run.

    python bench/parse.py [--file F] [--pygcode-lines N]

Writes bench/results/parse.json and prints lines/s and ratios. All parsers read the
same decompressed text from memory; c3po's end-to-end time from the .gz file, the
first-call (numba compile) cost and the streaming cost per line are reported too.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "gcode" / "lshape_tall_1m_prusa.gcode.gz"


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def plain_python(text: str) -> int:
    """The loop a Python user writes first: split words, keep G0/G1 targets."""
    x = y = z = e = 0.0
    n = 0
    for line in text.splitlines():
        code = line.split(";", 1)[0].split()
        if not code or code[0] not in ("G0", "G1"):
            continue
        for w in code[1:]:
            k, v = w[0], float(w[1:])
            if k == "X":
                x = v
            elif k == "Y":
                y = v
            elif k == "Z":
                z = v
            elif k == "E":
                e = v
        n += 1
    return n


def first_call_cost(path: Path) -> dict:
    """Seconds for import + first parse in a fresh process, with an empty and a warm numba cache."""
    code = (
        "import time; t=time.perf_counter(); import c3po; "
        f"c3po.parse_gcode({str(path)!r}); print(time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = float(subprocess.check_output([sys.executable, "-c", code], env=env))
        warm = float(subprocess.check_output([sys.executable, "-c", code], env=env))
    return {"cold_cache_s": round(cold, 3), "warm_cache_s": round(warm, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=DEFAULT)
    ap.add_argument("--pygcode-lines", type=int, default=100_000, help="pygcode is slow: time a prefix")
    args = ap.parse_args()

    import c3po._jit
    from c3po.gcode import StreamParser, parse_gcode

    small = ROOT.parent / "shared" / "gcode" / "box_prusa.gcode.gz"
    first = first_call_cost(small)

    raw = gzip.decompress(args.file.read_bytes())
    text = raw.decode()
    lines = text.count("\n")
    parse_gcode(raw)  # warm up
    t_c3po, tp = best(lambda: parse_gcode(raw), 5)
    t_gz, _ = best(lambda: parse_gcode(args.file), 3)

    line_list = raw.splitlines(keepends=True)

    def stream():
        sp = StreamParser()
        for ln in line_list:
            sp.feed(ln)
        sp.close()
        return sp

    t_stream, sp = best(stream, 3)
    assert sp.toolpath().equals(tp)

    t_plain, _ = best(lambda: plain_python(text), 1)

    from gcodeparser import parse_gcode_lines

    t_gp, _ = best(lambda: sum(1 for _ in parse_gcode_lines(text)), 1)

    import pygcode

    prefix = text.splitlines()[: args.pygcode_lines]
    t_pg, _ = best(lambda: [pygcode.Line(ln) for ln in prefix], 1)

    rate = {
        "c3po": lines / t_c3po,
        "c3po_from_gz_file": lines / t_gz,
        "c3po_stream_line_by_line": lines / t_stream,
        "plain_python_loop": lines / t_plain,
        "gcodeparser_parse_gcode_lines": lines / t_gp,
        "pygcode_Line": len(prefix) / t_pg,
    }
    result = {
        "file": args.file.name,
        "lines": lines,
        "moves": len(tp),
        "layers": tp.n_layers,
        "numba": c3po._jit.HAVE_NUMBA,
        "lines_per_s": {k: round(v) for k, v in rate.items()},
        "ratio_c3po_vs": {k: round(rate["c3po"] / v, 1) for k, v in rate.items() if not k.startswith("c3po")},
        "stream_us_per_line": round(t_stream / lines * 1e6, 3),
        "first_call": first,
        "targets": {"c3po_lines_per_s": 10_000_000, "stream_us_per_line": 5.0},
    }
    out = ROOT / "bench" / "results" / "parse.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{args.file.name}: {lines:,} lines, {len(tp):,} moves, {tp.n_layers} layers")
    for k, v in rate.items():
        print(f"  {k:32s} {v / 1e6:8.2f} M lines/s   c3po is {rate['c3po'] / v:6.1f}x")
    print(f"  streaming cost                   {result['stream_us_per_line']:.2f} us/line (target < 5)")
    print(f"  first call (import+parse)        cold cache {first['cold_cache_s']} s, warm {first['warm_cache_s']} s")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
