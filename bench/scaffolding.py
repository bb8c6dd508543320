"""Streaming with supports: does judging loose scaffolding while printing stop clear prints?

    python bench/scaffolding.py [--per-class 2] [--model DIR]

Since session 32 the streaming detector judges marked scaffolding that holds nothing up
as the object's once it stopped growing ``SETTLED_MM`` below the last layer (a part
relabelled as support to hide it). Real supports hold something up, so real prints
should not change. ``bench/suite.py supported_prints``: tipped unseen objects of every
class (seed 999) with PrusaSlicer's and CuraEngine's supports and CuraEngine's tree
supports. Each print is streamed as a printer host feeds it (``StreamDetector``) and
replayed with the comments trusted throughout (the detector before session 32; the
replay equals streaming, tests/test_detect.py); per setup: weapons flagged and stopped
while printing, clear prints stopped while printing and flagged, prints with moves
judged loose, and the largest change of a clear print's last score. Writes
bench/results/scaffolding.json.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
from pathlib import Path

import suite

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def judge(det, path: str) -> dict:
    """The print streamed as shipped and replayed with the feature comments trusted."""
    from c3po import parse_gcode

    gcode = gzip.decompress(Path(path).read_bytes())
    sd = det.stream()
    sd.feed(gcode)
    if not sd.flagged:
        sd.close()
    looks = det.replay(parse_gcode(gcode).object_moves())
    flag = next((lk.layer for lk in looks if lk.flagged), None)
    return {"layers": sd.layers, "loose_moves": sd.loose_moves,
            "streamed": {"flag_layer": sd.flag_layer, "score": round(sd.looks[-1].score, 4)},
            "trusted": {"flag_layer": flag, "score": round(looks[-1].score, 4)}}


def summarise(rows: list[dict], weapons: set[str]) -> dict:
    by = collections.defaultdict(list)
    for r in rows:
        by[r["slicer"]].append(r)
    out = {}
    for setup, rs in by.items():
        w = [r for r in rs if r["label"] in weapons]
        c = [r for r in rs if r["label"] not in weapons]
        s = {"prints": len(rs), "with_loose_moves": sum(r["loose_moves"] > 0 for r in rs)}
        for mode in ("streamed", "trusted"):
            flagged = [r["label"] in weapons for r in rs if r[mode]["flag_layer"] is not None]
            early = [r["label"] in weapons for r in rs if r[mode]["flag_layer"] is not None
                     and r[mode]["flag_layer"] < r["layers"]]
            s[mode] = {"weapons": len(w), "weapons_flagged": sum(flagged), "weapons_while_printing": sum(early),
                       "clear": len(c), "clear_stopped_while_printing": len(early) - sum(early),
                       "clear_flagged": len(flagged) - sum(flagged)}
        s["largest_clear_score_change"] = max((round(r["streamed"]["score"] - r["trusted"]["score"], 4)
                                               for r in c), key=abs, default=0.0)
        out[setup] = s
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    from tqdm import tqdm

    from c3po.detect import SETTLED_MM, Detector

    det = Detector.from_bundle(args.model)
    items = suite.supported_prints(args.per_class)
    rows = [{**it, **judge(det, it["path"])} for it in tqdm(items, desc="stream")]
    result = {"settled_mm": SETTLED_MM, "model": str(args.model or "models/default"),
              "setups": summarise(rows, set(det.bundle["weapon_classes"])),
              "prints": [{k: r[k] for k in ("path", "label", "slicer", "layers", "loose_moves", "streamed", "trusted")}
                         | {"path": Path(r["path"]).name} for r in rows]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scaffolding.json").write_text(json.dumps(result, indent=1))
    for setup, s in result["setups"].items():
        a, b = s["streamed"], s["trusted"]
        print(f"{setup:22s} {s['prints']} prints, {s['with_loose_moves']} with loose moves; streamed vs comments "
              f"trusted: weapons while printing {a['weapons_while_printing']} vs {b['weapons_while_printing']} of "
              f"{a['weapons']}, clear stopped while printing {a['clear_stopped_while_printing']} vs "
              f"{b['clear_stopped_while_printing']} of {a['clear']}, clear flagged {a['clear_flagged']} vs "
              f"{b['clear_flagged']}; largest clear score change {s['largest_clear_score_change']:+.3f}")
    print(f"wrote {RESULTS / 'scaffolding.json'}")


if __name__ == "__main__":
    main()
