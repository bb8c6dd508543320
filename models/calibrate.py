"""Choose the streaming policy on calibration prints, never on the evaluation suite.

    python models/calibrate.py [--per-class 16]

Calibration objects are procedural objects of dataset seed 555 (training uses seed 0,
the evaluation suite in bench/suite.py seed 777), in random poses whose rests (flat,
flipped, on either edge) are stratified (:func:`rests`), sliced by the
built-in slicer, PrusaSlicer and CuraEngine (a printer will not run our slicer), each
with its default settings, again with random print settings per object
(``SLICER-varied``, ``c3po.dataset.random_settings``: users pick their own), again
tipped 5-90 degrees about a horizontal axis (``SLICER-tilted``), and by PrusaSlicer and
CuraEngine in spiral vase mode (``SLICER-vase``: a hollow shell). Each
print is replayed once with a policy that never stops, keeping the raw weapon score of
every look (for an ensemble, each member's, from one rendering, gated separately and then
averaged as the detector does); policies (EMA, and one rule or two: threshold and hold) are then simulated
on those scores. The chosen policy stops at most ``MAX_FALSE_STOPS`` of the clear
prints beyond those the verdict on the finished file flags anyway, then maximises the
share of weapons stopped while printing minus ``FALSE_STOP_COST`` times the share of
clear prints stopped, both counted under a safety margin for G-code unlike the
calibration prints (each weapon print's weapon odds lowered, and each clear print's
raised, by ``ODDS_MARGIN``), then stops the earliest (median flag fraction); weapons it
misses while printing are still flagged when the last layer is classified. Then the
finished print's threshold (:func:`final_threshold`) is raised as far as no weapon
print flagged at 0.5 goes unflagged with its odds lowered. The
calibration is also cross-validated over objects (:func:`cross_validate`), as an
estimate of what it does on objects it was not fitted on. With a novelty gate (c3po.novelty) its
threshold is chosen first: ``GATE_MARGIN`` times the ``GATE_QUANTILE`` quantile of the
feature distances of the looks that scored weapon-like on calibration weapon prints (a
high quantile, not the largest: one odd look would otherwise set the gate); gated looks
score 0. All are
written into the bundle's bundle.json (models/default unless ``--bundle``).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import zlib
from pathlib import Path
from types import SimpleNamespace

# one BLAS thread per process: the recording runs one process per core, and more
# threads than cores spin against one another
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as bench/detect.py pins one core
import numpy as np  # noqa: E402
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "build" / "calibration"
BUNDLE = ROOT / "models" / "default" / "bundle.json"
SEED = 555
FALSE_STOP_COST = 5  # stopping a clear print costs as much as letting five weapons print to the end
#: the share of clear prints a policy may stop while printing (counted with their odds
#: raised) beyond those the verdict on their finished file flags, which no policy changes:
#: the detector's target. Policies over it are only chosen when none is under it
MAX_FALSE_STOPS = 0.01
#: false stops are counted with every clear print's weapon odds raised e^0.5 = 1.65x, and
#: stops while printing with every weapon print's lowered as much: G-code from slicers,
#: settings and objects never seen scores less cleanly than calibration prints
ODDS_MARGIN = 0.5
#: the novelty gate's threshold: GATE_MARGIN times the GATE_QUANTILE quantile of the
#: distances of the weapon-like looks of calibration weapon prints. The quantile rests on
#: the farthest ~0.1% of some 18,000 looks; the largest distance rests on one look and moved
#: from 405 to 827 between two retrainings of one recipe
GATE_MARGIN = 1.5
GATE_QUANTILE = 0.999
SLICERS = ("builtin", "prusa", "cura", "builtin-varied", "prusa-varied", "cura-varied",
           "builtin-tilted", "prusa-tilted", "cura-tilted", "prusa-vase", "cura-vase")


def rests(label: str, per_class: int) -> list[str]:
    """How each of the ``per_class`` calibration objects of ``label`` rests on the bed:
    each rest as often as the pose generator makes it (``REST_SHARES``, in whole objects
    by largest remainder), in an order drawn per class. Drawn at random instead, 2 of the
    24 untipped weapon objects stood on an edge where 6 were due, so the policy was chosen
    with little evidence on the prints that are stopped latest."""
    from c3po.shapes.pose import REST_SHARES

    want = {r: per_class * s for r, s in REST_SHARES.items()}
    count = {r: int(w) for r, w in want.items()}
    for r in sorted(want, key=lambda r: count[r] - want[r])[: per_class - sum(count.values())]:
        count[r] += 1
    order = [r for r, n in count.items() for _ in range(n)]
    return [str(r) for r in np.random.default_rng([SEED, zlib.crc32(label.encode())]).permutation(order)]


def _slice(job) -> tuple[str, int, str, bool]:
    """(label, object index, path, ok) of one calibration print, sliced unless cached."""
    label, i, slicer, rest = job
    path = CACHE / slicer / f"{label}_{i:03d}_{rest}.gcode.gz"
    failed = path.with_name(path.name + ".failed")  # why the slicer refused it, so it is not retried
    if path.exists() or failed.exists():
        return label, i, str(path), path.exists()
    from c3po.dataset import slice_held_out

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        gcode = slice_held_out(label, i, SEED, slicer, rest)
    except Exception as exc:  # noqa: BLE001 - skip the odd failed object
        print(f"calibration: {label} {i} with {slicer}: {exc}")
        failed.write_text(f"{exc}\n")
        return label, i, str(path), False
    # a slicing killed while writing leaves no truncated print; one name per process, as
    # two calibrations sharing the cache may slice the same print at once
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(gzip.compress(gcode, 1))
    tmp.replace(path)
    return label, i, str(path), True


def prints(per_class: int, slicers: list[str]) -> list[tuple[str, int, Path]]:
    """(label, object index, path) of the calibration prints: every class, ``per_class``
    objects, each slicer (one index is one object, whatever slices it)."""
    from concurrent.futures import ProcessPoolExecutor

    from c3po.shapes.registry import list_shapes

    jobs = [(label, i, s, rest) for s in slicers for label in list_shapes(extra=True)
            for i, rest in enumerate(rests(label, per_class))]
    with ProcessPoolExecutor(2) as pool:
        return [(label, i, Path(path)) for label, i, path, ok in pool.map(_slice, jobs) if ok]


#: look schedules searched: (min_height_mm, step_mm, step_frac) of c3po.detect's policy
SCHEDULES = [(m, s, f) for m in (1.0, 1.5, 2.0) for s in (0.3, 0.5, 0.75, 1.0)
             for f in (0.05, 0.06, 0.08, 0.1, 0.12, 0.15)]
#: a whole-file scan may judge at most this many looks of a clear print as tall as the bed
#: (250 mm at 0.2 mm layers, :func:`looks_judged`): the worst case of ``c3po scan`` stays
#: as fast as with the first shipped schedule (2 mm, 1 mm, 10%: 39 looks, all judged)
MAX_LOOKS = 39
#: the recording schedule: every layer from 0.6 mm up, so that any searched schedule is
#: simulated exactly
RECORD = {"min_height_mm": 0.6, "step_mm": 0.0, "step_frac": 0.0}


def due_layers(zs: np.ndarray, schedule) -> np.ndarray:
    """Indices of the looks in ``zs`` (heights, the last one the print's end) that
    c3po.detect's policy with ``schedule`` takes: its own ``due``, fed float32 layer
    heights as the detector is."""
    from c3po.detect import _Policy

    min_h, step, frac = schedule
    policy = _Policy(SimpleNamespace(policy={"min_height_mm": min_h, "step_mm": step, "step_frac": frac,
                                             "rules": []}))
    zs = np.asarray(zs, np.float32).tolist()
    return np.array([i for i, z in enumerate(zs) if policy.due(z, last=i == len(zs) - 1)], int)


def looks_on_bed_height(schedule, height: float = 250.0, layer: float = 0.2) -> int:
    return len(due_layers(np.arange(1, int(round(height / layer)) + 1) * layer, schedule))


def looks_judged(looks: int, ema: float, short: int) -> int:
    """Of a clear print's ``looks``, how many ``c3po scan`` judges: all, or, without
    smoothing, one in ``short`` (the policy's smallest hold) and the last
    (c3po.detect.Detector._skim)."""
    return looks if ema != 1.0 else -(-looks // short)


def first_flags(scores: np.ndarray, thresholds, holds) -> np.ndarray:
    """(T, H) index of the first look at which the score stayed >= threshold for hold
    looks in a row (len(scores) when never), the last look excluded."""
    out = np.full((len(thresholds), len(holds)), len(scores))
    body = scores[:-1]
    for i, t in enumerate(thresholds):
        run = np.zeros(len(body), int)
        r = 0
        for k, above in enumerate(body >= t):
            r = r + 1 if above else 0
            run[k] = r
        for j, h in enumerate(holds):
            hit = np.flatnonzero(run >= h)
            if len(hit):
                out[i, j] = hit[0]
    return out


def _smooth(scores: np.ndarray, ema: float) -> np.ndarray:
    out = np.empty_like(scores)
    acc = None
    for k, s in enumerate(scores):
        acc = s if acc is None else ema * s + (1 - ema) * acc
        out[k] = acc
    return out


def _raise_odds(p: np.ndarray, margin: float) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return 1 / (1 + (1 - p) / p * np.exp(-margin))


THRESHOLDS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.98]
#: looks in a row a rule must hold: at least two, so one odd look never stops a print (the
#: first look has no history to smooth it: its EMA is its own score)
HOLDS = [2, 3, 4, 5, 6, 8]


def candidates():
    """Policies searched, as index pairs into (THRESHOLDS, HOLDS): one rule, or a likely
    rule and a stricter but quicker one. Thresholds are finer near the top: label
    smoothing caps a confident weapon score at about 0.96, so that is where a quick rule
    must sit."""
    single = [[(t, h)] for t in range(len(THRESHOLDS)) for h in range(len(HOLDS))]
    pairs = [[(t1, h1), (t2, h2)] for t1, t2 in itertools.combinations(range(len(THRESHOLDS)), 2)
             for h2, h1 in itertools.combinations(range(len(HOLDS)), 2)]  # t1 < t2, h1 > h2
    return single + pairs


def flag_fractions(records, schedule, ema: float) -> tuple[np.ndarray, np.ndarray]:
    """For every print: (T, H) flag fraction of each single rule (nan: never flagged),
    and the score of its final look (the finished print's, flagged at its last layer when
    it reaches the final threshold: :func:`finished`). A policy of several rules stops at
    the earliest of its rules."""
    table, last = [], []
    for zs, layers, scores, n in records:
        idx = due_layers(zs, schedule)
        s = scores[idx]
        sm = _smooth(s, ema)
        first = first_flags(sm, THRESHOLDS, HOLDS)
        frac = np.append(layers[idx] / n, np.nan)  # index len(s) -> not stopped while printing
        table.append(frac[np.minimum(first, len(s))] if len(s) > 1 else np.full(first.shape, np.nan))
        last.append(max(s[-1], sm[-1]))
    return np.array(table), np.array(last)


def finished(last: np.ndarray, thr_final: float) -> np.ndarray:
    """Flag fraction of the finished prints' verdicts: 1.0 where the final look's score
    ``last`` reaches ``thr_final``, nan where the finished print is clear."""
    return np.where(last >= thr_final, 1.0, np.nan)


def outcome(records, stressed, weapon: np.ndarray, schedule, ema: float, rules, thr_final: float) -> tuple:
    """One policy on recorded looks: (flag fraction per print while printing (nan: not
    stopped), the same with the finished print's verdict, weapons stopped while printing,
    the same with odds lowered, clear prints flagged with odds raised)."""
    (table, last), (table_s, last_s) = (flag_fractions(r, schedule, ema) for r in (records, stressed))
    return _shares(table, finished(last, thr_final), table_s, finished(last_s, thr_final), weapon, rules)


def stops(table: np.ndarray, rules) -> np.ndarray:
    """Flag fraction per print while printing under ``rules`` ((row, col) cells of
    :func:`flag_fractions`' table; nan: not stopped): the earliest rule stops the print."""
    rows, cols = zip(*rules)
    return np.fmin.reduce(table[:, rows, cols], axis=1)


def _shares(table, final, table_s, final_s, weapon: np.ndarray, rules) -> tuple:
    """:func:`outcome` from :func:`flag_fractions`' tables and :func:`finished`'s verdicts
    (``_s``: with the odds margin applied)."""
    printing, printing_s = stops(table, rules), stops(table_s, rules)
    return (printing, np.fmin(printing, final), np.mean(~np.isnan(printing[weapon])),
            np.mean(~np.isnan(printing_s[weapon])), np.mean(~np.isnan(np.fmin(printing_s, final_s)[~weapon])))


def novelty_gate(recorded, weapon) -> float:
    """The novelty gate's threshold from recorded looks: how far weapon prints looked
    while they scored weapon-like (``GATE_QUANTILE`` of those distances), with room to
    spare (times ``GATE_MARGIN``)."""
    far = np.quantile([d for (c, _), is_weapon in zip(recorded, weapon) if is_weapon for _, _, s, d in c
                       if s >= 0.5], GATE_QUANTILE)
    return round(GATE_MARGIN * float(far), 1)


def choose(records, stressed, weapon: np.ndarray, thr_final: float, progress: bool = True) -> tuple:
    """The policy for recorded looks (``stressed``: the same with the odds margin applied),
    with the finished print's verdict at ``thr_final``: (schedule, ema, rules, then
    :func:`outcome`'s flag fractions and shares)."""
    best = None
    # clear prints whose finished file's verdict flags them (the last look alone, unsmoothed):
    # no policy changes that
    finished_fpr = np.mean([s[-1] >= thr_final for (_, _, s, _), w in zip(stressed, weapon) if not w])
    bed = {s: looks_on_bed_height(s) for s in SCHEDULES}
    jobs = [(s, ema) for s, ema in itertools.product(SCHEDULES, [0.5, 0.7, 1.0])
            if looks_judged(bed[s], ema, max(HOLDS)) <= MAX_LOOKS]
    for schedule, ema in tqdm(jobs, desc="policies", disable=not progress):
        (table, last), (table_s, last_s) = (flag_fractions(r, schedule, ema) for r in (records, stressed))
        final, final_s = finished(last, thr_final), finished(last_s, thr_final)
        for rules in candidates():
            if looks_judged(bed[schedule], ema, min(HOLDS[h] for _, h in rules)) > MAX_LOOKS:
                continue
            printing, ff, before_end, stressed_end, stressed_fpr = _shares(table, final, table_s, final_s,
                                                                           weapon, rules)
            med = float(np.nanmedian(ff[weapon])) if np.any(~np.isnan(ff[weapon])) else 1.0
            key = (max(0.0, stressed_fpr - finished_fpr - MAX_FALSE_STOPS),
                   -(stressed_end - FALSE_STOP_COST * stressed_fpr), med, len(rules))
            if best is None or key < best[0]:
                best = (key, schedule, ema, rules, printing, ff, before_end, stressed_end, stressed_fpr)
    return best[1:]


#: the finished print's thresholds searched (bundle.json ``threshold``): the first is the
#: natural one (the weapon classes together more likely than not), and the stop rules are
#: chosen with it
FINAL_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def final_threshold(records, stressed, weapon: np.ndarray, schedule, ema: float, rules) -> float:
    """The largest :data:`FINAL_THRESHOLDS` under which every weapon print that the first
    one flags is still flagged with its odds lowered by the margin (``stressed``): a
    weapon the stop rules miss while printing must still be flagged when finished, with
    room to spare. Clear prints do not set it; they only gain."""
    flagged = []
    for r in (records, stressed):
        table, last = flag_fractions(r, schedule, ema)
        stopped = ~np.isnan(stops(table, rules))[weapon]
        flagged.append([stopped | (last[weapon] >= t) for t in FINAL_THRESHOLDS])
    (now, *_), lowered = flagged
    return max([FINAL_THRESHOLDS[0]] + [t for t, f in zip(FINAL_THRESHOLDS, lowered) if np.all(f | ~now)])


_DETS: list = []


def _recorder(bundle: str, member: int = 0):
    """A detector of one member of the bundle's projection model that never stops and
    looks at every layer, its novelty gate open."""
    from c3po.detect import Detector

    det = Detector.from_bundle(bundle)
    det.nets = det.nets[member : member + 1]
    det.policy.update(RECORD, rules=[{"threshold": 2.0, "hold": 1}])
    w = det.nets[0].weights
    if "novelty.means" in w:  # fitted by models/make_default.py; its threshold is chosen here
        det.novelty = [(w["novelty.means"][det.weapon], w["novelty.precision"], np.inf)]
    return det


def _init(bundle: str, members: list[int]) -> None:
    _DETS[:] = [_recorder(bundle, m) for m in members]


def _record_one(path) -> list[tuple[list, int]]:
    """Each member's looks of one print: the print is rendered once for all of them, and
    each member's looks are what its own never-stopping detector's scan records."""
    from c3po.detect import _batches, _Policy, load_toolpath
    from c3po.objects import Footprint

    first = _DETS[0]
    tp = load_toolpath(path, str(path)).object_moves()
    policies, curves = [_Policy(d) for d in _DETS], [[] for _ in _DETS]
    footprint, n = Footprint(), tp.n_layers
    due = first._due(tp)
    due = [due[i] for i in searched(tp.layer_z[due])]
    for ks in _batches(due, 8):
        parts, spans, x = first._render(tp, ks, footprint)
        for det, policy, curve in zip(_DETS, policies, curves):
            probs, dist = det._member(x, 0) if len(x) else (np.zeros((0, len(det.classes))), np.zeros(0))
            for k, (_, moves, sizes), (lo, hi) in zip(ks, parts, spans):
                look = policy.update(k + 1, float(tp.layer_z[k]), det._pick(probs[lo:hi], dist[lo:hi], moves, sizes),
                                     last=k == n - 1)
                curve.append((look.z, look.layer, look.score, look.distance if look.distance is not None else 0.0))
    return [(c, n) for c in curves]


def searched(zs: np.ndarray) -> np.ndarray:
    """Indices of the looks at heights ``zs`` (every layer's, from the recording
    schedule) that some searched schedule takes. A schedule's looks depend only on the
    heights it has seen and the looks it took, so over this subset each takes the same
    looks as over every layer: recording only these (about 2/3 of the layers) simulates
    every searched policy exactly."""
    return np.array(sorted(set().union(*(due_layers(zs, s).tolist() for s in SCHEDULES))), int)


def _searched_only(looks: list) -> list:
    """A recording (looks, layers) cut to its :func:`searched` looks (no change to one
    recorded that way)."""
    c, n = looks
    return [[c[i] for i in searched(np.array([lk[0] for lk in c]))], n]


def record(bundle: str, members: list[int], paths, workers: int = 2, desc: str = "calibration scans") -> list:
    """Per member of ``members``: [(z, layer, score, distance) of every look, layers] per print."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=_init, initargs=(bundle, members)) as pool:
        out = list(tqdm(pool.map(_record_one, paths, chunksize=2), total=len(paths), desc=desc))
    return [[per_print[i] for per_print in out] for i in range(len(members))]


def fingerprint(bundle: str, member: int = 0) -> str:
    """What a member's recording depends on: the projection model's render settings,
    smallest weapon and the member's weights (novelty statistics included), and the
    recording schedule."""
    from c3po.runtime import weight_files

    entry = json.loads((Path(bundle) / "bundle.json").read_text())["models"]["projection"]
    crc = zlib.crc32(json.dumps([entry["input"], entry.get("min_weapon_mm"), sorted(RECORD.items())],
                                sort_keys=True).encode())
    return f"{zlib.crc32((Path(bundle) / weight_files(entry)[member]).read_bytes(), crc):08x}"


def recordings(bundle: str, members: int, items: list[tuple[str, int, Path]], slicer: str, rescan: bool) -> list:
    """Each member's recorded looks of ``items``, cached by model and by print bytes: only
    prints a member has not recorded (or that changed) are scanned, by all such members at once."""
    keys = [f"{zlib.crc32(p.read_bytes()):08x}" for *_, p in items]
    files = [CACHE / f"looks-{fingerprint(bundle, m)}.json" for m in range(members)]
    seen = [json.loads(f.read_text()) if f.exists() and not rescan else {} for f in files]
    todo = {k: p for k, (*_, p) in zip(keys, items) if any(k not in s for s in seen)}
    if todo:
        missing = [m for m in range(members) if any(k not in seen[m] for k in todo)]
        got = record(bundle, missing, list(todo.values()), desc=f"calibration scans, {slicer}, "
                     f"member{'s' if len(missing) > 1 else ''} {', '.join(str(m + 1) for m in missing)}")
        for m, looks in zip(missing, got):
            seen[m].update((k, v) for k, v in zip(todo, looks) if k not in seen[m])
            tmp = files[m].with_suffix(".tmp")  # a recording killed while writing leaves the cache whole
            tmp.write_text(json.dumps(seen[m]))
            tmp.replace(files[m])
    return [[s[k] for k in keys] for s in seen]


def combine(recorded: list[list], gates: list[float] | None, camera: list | None = None,
            weight: float = 0.0) -> list[tuple]:
    """(z, layer, score, layers) per print from each member's recorded looks
    (``recorded[member][print]``): a look's score is the mean of the members' scores,
    each 0 where the look is farther than that member's novelty gate (as
    :meth:`c3po.detect.Detector.infer` does). With ``camera`` (per print, a score per
    look: bench/camera.py) the score is ``(1 - weight)`` times that plus ``weight`` times
    the camera's."""
    out = []
    for i, member_looks in enumerate(zip(*recorded)):
        scores, zs = [], []
        for m, (c, n) in enumerate(member_looks):
            z, layer, s, d = (np.array(col, float) for col in zip(*c))
            scores.append(np.where(d <= gates[m], s, 0.0) if gates else s)
            zs.append(z)
        if any(len(other) != len(z) or np.any(other != z) for other in zs):
            raise ValueError("members recorded different looks of one print; rescan (--rescan)")
        score = np.mean(scores, axis=0)
        out.append((z, layer, score if camera is None else (1 - weight) * score + weight * np.asarray(camera[i]), n))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=16)
    ap.add_argument("--slicers", default=",".join(SLICERS), help="slicers of the calibration prints")
    ap.add_argument("--rescan", action="store_true", help="rescan the prints, though this model's looks are recorded")
    ap.add_argument("--bundle", default=str(BUNDLE.parent), help="bundle to calibrate (default: models/default)")
    args = ap.parse_args()
    from c3po.runtime import weight_files

    bundle_path = Path(args.bundle) / "bundle.json"
    det = _recorder(args.bundle)
    members = len(weight_files(det.bundle["models"]["projection"]))
    gated = det.novelty is not None  # open while recording; its threshold is chosen below
    recorded, weapon, setup, objects = [[] for _ in range(members)], [], [], []
    for slicer in args.slicers.split(","):
        items = prints(args.per_class, [slicer])
        for m, looks in enumerate(recordings(args.bundle, members, items, slicer, args.rescan)):
            recorded[m] += [_searched_only(lk) for lk in looks]  # recordings of every layer: the same subset
        weapon += [label in det.bundle["weapon_classes"] for label, *_ in items]
        setup += [slicer] * len(items)
        objects += [i for _, i, _ in items]
    weapon, setup, objects = np.array(weapon), np.array(setup), np.array(objects)
    gates, records, stressed, (schedule, ema, rules), thr_final = fit(recorded, weapon, gated)
    ff_printing, ff, before_end, stressed_end, stressed_fpr = outcome(records, stressed, weapon, schedule, ema,
                                                                       rules, thr_final)
    recall = np.mean(~np.isnan(ff[weapon]))
    fpr = np.mean(~np.isnan(ff[~weapon]))
    med = float(np.nanmedian(ff[weapon]))
    policy = {"min_height_mm": schedule[0], "step_mm": schedule[1], "step_frac": schedule[2], "ema": ema,
              "rules": [{"threshold": THRESHOLDS[t], "hold": HOLDS[h]} for t, h in rules]}
    bundle = json.loads(bundle_path.read_text())
    bundle["threshold"] = thr_final
    bundle["stream"].update(policy)
    if gates is not None:  # one threshold per member (a number for a single network)
        bundle["models"]["projection"]["novelty"] = {"threshold": gates if members > 1 else gates[0],
                                                      "margin": GATE_MARGIN, "quantile": GATE_QUANTILE}
    bundle["stream"]["calibration"] = {
        "prints": len(records), "seed": SEED, "weapon_recall": round(float(recall), 4),
        "weapons_stopped_while_printing": round(float(before_end), 4),
        "weapons_stopped_while_printing_odds_lowered": round(float(stressed_end), 4),
        "false_positive_rate": round(float(fpr), 4), "false_positive_rate_odds_raised": round(float(stressed_fpr), 4),
        "odds_margin": ODDS_MARGIN, "median_flag_fraction": round(med, 4),
        "looks_on_bed_height": looks_on_bed_height(schedule),
        "looks_judged_on_bed_height": looks_judged(looks_on_bed_height(schedule), ema,
                                                   min(HOLDS[h] for _, h in rules)),
        "by_setup": by_setup(ff, ff_printing, weapon, setup),
        "cross_validated": cross_validate(recorded, weapon, objects, gated)}
    bundle_path.write_text(json.dumps(bundle, indent=1))
    print(f"novelty gate {gates}; policy {policy}; final threshold {thr_final}: "
          f"calibration recall {recall:.3f} ({before_end:.3f} while printing, "
          f"{stressed_end:.3f} with odds lowered), "
          f"clear flagged {fpr:.3f} ({stressed_fpr:.3f} with odds raised), median flag fraction {med:.3f}")
    for name, row in bundle["stream"]["calibration"]["by_setup"].items():
        print(f"  {name:15s} " + ", ".join(f"{k} {v}" for k, v in row.items()))
    print("  out of fold     " + ", ".join(f"{k} {v}" for k, v in bundle["stream"]["calibration"]["cross_validated"].items()))


def fit(recorded: list[list], weapon: np.ndarray, gated: bool, progress: bool = True, camera: list | None = None,
        weight: float = 0.0) -> tuple:
    """Novelty gates (None when ``not gated``), the gated records (fused with ``camera``
    as :func:`combine` does), the same with the odds margin applied, :func:`choose`'s
    policy (schedule, ema, rules) with the finished print judged at the natural
    threshold, and then :func:`final_threshold` for it."""
    gates = [novelty_gate(r, weapon) for r in recorded] if gated else None
    records = combine(recorded, gates, camera, weight)
    stressed = [(z, layer, _raise_odds(s, -ODDS_MARGIN if is_weapon else ODDS_MARGIN), n)
                for (z, layer, s, n), is_weapon in zip(records, weapon)]
    schedule, ema, rules, *_ = choose(records, stressed, weapon, FINAL_THRESHOLDS[0], progress)
    return gates, records, stressed, (schedule, ema, rules), final_threshold(records, stressed, weapon, schedule, ema, rules)


def cross_validate(recorded: list[list], weapon: np.ndarray, objects: np.ndarray, gated: bool,
                   camera: list | None = None, weight: float = 0.0) -> dict:
    """How the calibration does on objects it did not fit: gates, policy and final
    threshold fitted on the prints of half the objects (index even, then odd; an object
    is in one half whatever slices it), applied to the other half, counts summed over
    both halves (``camera``, ``weight``: as :func:`combine`)."""
    def part(items, mask):
        return None if items is None else [x for x, m in zip(items, mask) if m]

    printing, ff, w = [], [], []
    for half in (0, 1):
        fit_on, test = objects % 2 == half, objects % 2 != half
        gates, _, _, (schedule, ema, rules), thr_final = fit(
            [part(rec, fit_on) for rec in recorded], weapon[fit_on], gated, False, part(camera, fit_on), weight)
        table, last = flag_fractions(combine([part(rec, test) for rec in recorded], gates, part(camera, test), weight),
                                     schedule, ema)
        printing.append(stops(table, rules))
        ff.append(np.fmin(printing[-1], finished(last, thr_final)))
        w.append(weapon[test])
    printing, ff, w = map(np.concatenate, (printing, ff, w))
    return by_setup(ff, printing, w, np.full(len(w), "all"))["all"]  # the same counts, over both halves


def by_setup(ff: np.ndarray, ff_printing: np.ndarray, weapon: np.ndarray, setup: np.ndarray) -> dict:
    """The chosen policy on each calibration setup: ``ff`` flag fraction per print (nan:
    never flagged), ``ff_printing`` the same without the finished print's verdict."""
    out = {}
    for name in dict.fromkeys(setup):
        w, c = weapon & (setup == name), ~weapon & (setup == name)
        out[str(name)] = {
            "weapons": int(w.sum()), "flagged": int(np.sum(~np.isnan(ff[w]))),
            "stopped_while_printing": int(np.sum(~np.isnan(ff_printing[w]))),
            "median_flag_fraction": round(float(np.nanmedian(ff[w])), 3) if np.any(~np.isnan(ff[w])) else None,
            "clear": int(c.sum()), "clear_flagged": int(np.sum(~np.isnan(ff[c])))}
    return out


if __name__ == "__main__":
    main()
