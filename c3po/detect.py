"""The detector: is this print a weapon? Whole files and live prints, numpy only.

A bundle (``models/default/``) holds ``bundle.json`` (classes, render settings,
thresholds, the streaming policy, metrics, the layer specs) and the weights as
safetensors. :class:`Detector` renders a toolpath the way the model was trained,
splits the plate into objects (a gun among other objects is still found) and
classifies each; the plate's score is its most weapon-like object's.

Streaming (:class:`StreamDetector`) feeds G-code as the printer receives it. Once the
print is ``min_height_mm`` tall (lower, it is a footprint too flat to judge), after a
completed layer it classifies the print so far (its partial projections: the
virtual-camera model's score fused in stops fewer weapon prints while printing,
``bench/camera.py``) when the print has grown by
``step_mm`` or by ``step_frac`` of its height since the last look (a printer has time
for every layer; the geometric schedule keeps a whole-file scan fast), smooths the
weapon score with an exponential moving average and aborts once any of the policy's
``rules`` holds: the smoothed score stayed at or above the rule's ``threshold`` for
its ``hold`` looks in a row (a very confident score may stop sooner than a merely
likely one). The whole-file
``scan`` runs the same policy over the parsed layers, so its ``flag_layer`` is the
layer at which a live print would be stopped.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from c3po import _raster, novelty, render
from c3po.errors import C3POError, GcodeError, ModelError
from c3po.gcode import StreamParser, parse_gcode
from c3po.mesh import MESH_EXTS
from c3po.objects import Footprint, loose_scaffolding
from c3po.runtime import Network, load_networks
from c3po.toolpath import Toolpath

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "models" / "default"
_IDENTITY = np.array([1.0, 0.0])  # cos, sin of no turn about Z (c3po._raster.extrude_stats)
#: a 10 mm square, two layers: enough G-code to run every stage once (see Detector.warm_up)
WARMUP = "G21\nG90\nM82\n" + "".join(
    f"G1 Z{z:.1f} F9000\nG1 X0 Y0\nG1 X10 Y0 E{k + 1}\nG1 X10 Y10 E{k + 2}\nG1 X0 Y10 E{k + 3}\nG1 X0 Y0 E{k + 4}\n"
    for k, z in ((0, 0.2), (4, 0.4))
)
DEFAULT_POLICY = {"step_mm": 1.0, "step_frac": 0.1, "ema": 0.5, "min_height_mm": 2.0,
                  "rules": [{"threshold": 0.5, "hold": 2}]}


@dataclass
class Verdict:
    """What ``c3po scan`` reports for one file (``to_json`` is the CLI contract)."""

    file: str
    verdict: str  # "weapon" or "clear"
    label: str  # most likely class of the most weapon-like object
    score: float  # probability of a weapon class, 0..1
    layers: int
    flag_layer: int | None  # layers printed when streaming would abort (1-based), or None
    probs: dict[str, float] = field(default_factory=dict)
    objects: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)  # streaming looks: layer, z, score, smoothed
    ms: float = 0.0
    looks: int = 0  # looks rendered and judged (curve=False: some by the ensemble's first member alone)

    @property
    def flag_fraction(self) -> float | None:
        return None if self.flag_layer is None or not self.layers else self.flag_layer / self.layers

    def to_json(self) -> dict:
        ff = self.flag_fraction
        return {
            "file": self.file, "verdict": self.verdict, "label": self.label, "score": round(self.score, 4),
            "layers": self.layers, "flag_layer": self.flag_layer,
            "flag_fraction": None if ff is None else round(ff, 4), "ms": round(self.ms, 1),
        }


@dataclass
class Look:
    """One streaming evaluation."""

    layer: int  # layers printed (1-based)
    z: float
    score: float
    smoothed: float
    flagged: bool
    distance: float | None = None  # the judged object's feature distance to the weapons (c3po.novelty)


class Detector:
    """Classify toolpaths with a bundle's projection model: one network, or an ensemble
    whose members' probabilities are averaged (each member gated by its own novelty
    gate)."""

    def __init__(self, bundle: dict, nets: list[Network], path: Path | None = None):
        self.bundle, self.nets, self.path = bundle, nets, path
        self.classes: list[str] = bundle["classes"]
        self.weapon = np.array([c in bundle["weapon_classes"] for c in self.classes])
        self.threshold = float(bundle["threshold"])
        self.policy = {**DEFAULT_POLICY, **bundle.get("stream", {})}
        self.render = bundle["models"]["projection"]["input"]
        gate = bundle["models"]["projection"].get("novelty")
        #: per member (weapon class means, precision, threshold), or None: no gate
        self.novelty: list[tuple] | None = None
        if gate and all("novelty.means" in net.weights for net in nets):
            limits = np.asarray(gate["threshold"], float).reshape(-1)
            if len(limits) not in (1, len(nets)):
                raise ModelError(f"bundle: {len(limits)} novelty thresholds for {len(nets)} members; "
                                 "recalibrate it (models/calibrate.py)")
            limits = np.broadcast_to(limits, len(nets))
            self.novelty = [(net.weights["novelty.means"][self.weapon], net.weights["novelty.precision"], float(t))
                            for net, t in zip(nets, limits)]
        #: objects smaller than this (largest extent so far, mm) are not judged weapons
        self.min_weapon_mm = float(bundle["models"]["projection"].get("min_weapon_mm", 0.0))

    @classmethod
    def from_bundle(cls, path: str | Path | None = None, threshold: float | None = None) -> Detector:
        path = Path(path) if path is not None else DEFAULT_BUNDLE
        meta = path / "bundle.json"
        if not meta.is_file():
            raise ModelError(f"{path}: no bundle.json; give a model bundle directory (e.g. models/default)")
        try:
            bundle = json.loads(meta.read_text())
            nets = load_networks(path, bundle["models"]["projection"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"{meta}: broken bundle ({exc}); re-export the model") from exc
        if threshold is not None:
            if not 0 <= threshold <= 1:
                raise C3POError(f"threshold must be within 0..1, got {threshold}")
            bundle["threshold"] = threshold  # one knob: the final decision and every streaming rule
            stream = bundle.setdefault("stream", {})
            stream["rules"] = [{**r, "threshold": threshold} for r in stream.get("rules", DEFAULT_POLICY["rules"])]
        return cls(bundle, nets, path)

    def warm_up(self) -> Detector:
        """Run every stage once on a tiny print (:data:`WARMUP`), so that loading numba's
        compiled code (about a second) does not fall on the first file scanned or the first
        line of a print."""
        self.scan(WARMUP.encode(), name="<warm-up>")
        sd = self.stream("<warm-up>")
        sd.feed(WARMUP)
        sd.close()
        return self

    # ---- classification ---------------------------------------------------------------

    def images(self, tp: Toolpath, select: np.ndarray | None = None) -> np.ndarray:
        """(V, S, S) uint8 projections rendered as the model was trained (V: its views)."""
        r = self.render
        return render.project(tp, r["size"], views=tuple(r.get("views", render.VIEWS)), margin=r.get("margin", 0.1),
                              canonical=r.get("canonical", False), layers_per_px=r.get("layers_per_px", 0.0),
                              select=select)

    def parts(self, tp: Toolpath, footprint: Footprint | None = None) -> tuple[np.ndarray, list[int], np.ndarray]:
        """Images (P, V, S, S) of each object on the plate, its drawn extruding moves and
        its size so far (largest extent along x, y or z, mm).

        ``footprint`` holds the plate's moves added so far (it is brought up to ``tp``);
        None starts a new one.
        """
        footprint = footprint or Footprint()
        footprint.add(tp, footprint.n, len(tp))
        ranges = render.drawn_ranges(tp, self.render["size"], self.render.get("layers_per_px", 0.0))
        if footprint.labels()[1] == 1:  # one object: draw the plate as it is
            moves = sum(int(np.count_nonzero(tp.extrude[a:b])) for a, b in ranges)
            return self.images(tp)[None], [moves], np.array([_extent(tp, tp.extrude, ranges)])
        masks, counts = footprint.objects(tp, ranges)
        size = self.render["size"]
        images = [self.images(tp, m) for m in masks]
        empty = np.zeros((0, len(self.render.get("views", render.VIEWS)), size, size), np.uint8)  # no object yet
        return ((np.stack(images) if images else empty), counts.tolist(),
                np.array([_extent(tp, m, ranges) for m in masks]))

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (P, K) of objects' images (P, V, S, S) uint8 and each object's
        feature distance to the weapon classes (the members' mean; NaN without a novelty
        gate). An object farther than a member's gate threshold is no weapon to that
        member: its weapon probabilities go to the clear classes."""
        if not len(images):
            return np.zeros((0, len(self.classes))), np.zeros(0)
        x = images.astype(np.float32) / 255.0
        return _mean([self._member(x, i) for i in range(len(self.nets))])

    def _member(self, x: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Member ``i``'s gated probabilities (P, K) of images ``x`` (float, 0-1) and
        feature distances (P,) (NaN without a novelty gate)."""
        net = self.nets[i]
        f = net.features(x)
        p = net.classify(f)
        if self.novelty is None:
            return p, np.full(len(x), np.nan)
        means, precision, threshold = self.novelty[i]
        d = novelty.distance(f, means, precision)
        self._clear(p, d > threshold)
        return p, d

    def _clear(self, probs: np.ndarray, which: np.ndarray) -> None:
        """Move the weapon probability of objects ``which`` to the clear classes, in place."""
        if which.any():
            clear = probs[which] * ~self.weapon
            total = clear.sum(1, keepdims=True)
            probs[which] = np.where(total > 0, clear / np.maximum(total, 1e-12), ~self.weapon / (~self.weapon).sum())

    def _pick(self, probs: np.ndarray, dist: np.ndarray, moves: list[int],
              sizes: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        """The most weapon-like object's probabilities, and all objects. An object smaller
        than ``min_weapon_mm`` so far is no weapon (yet): projections are scaled to the
        object, so a letter, a gear's tooth or the first millimetres of a tiny part
        would otherwise be judged as if it were gun-sized."""
        if not len(probs):
            return np.full(len(self.classes), np.nan), []
        probs = probs.copy()
        self._clear(probs, sizes < self.min_weapon_mm)
        scores = probs[:, self.weapon].sum(1)
        objects = [{"label": self.classes[int(p.argmax())], "score": float(s), "moves": m,
                    "size_mm": round(float(z), 1), "distance": None if np.isnan(d) else round(float(d), 1)}
                   for p, s, d, m, z in zip(probs, scores, dist, moves, sizes)]
        return probs[int(scores.argmax())], objects

    def classify(self, tp: Toolpath, footprint: Footprint | None = None) -> tuple[np.ndarray, list[dict]]:
        """Class probabilities (K,) of the plate's most weapon-like object (NaN when there
        is none), and all objects."""
        images, moves, sizes = self.parts(tp, footprint)
        return self._pick(*self.infer(images), moves, sizes)

    def stream(self, name: str = "<stream>") -> StreamDetector:
        return StreamDetector(self, name)

    def scan(self, source, name: str | None = None, curve: bool = True) -> Verdict:
        """Judge a whole file: G-code (path, bytes; .gz too), a mesh (sliced first) or a
        parsed toolpath.

        ``curve=False`` (``c3po scan``) looks only where the decision needs it (see
        :meth:`_skim`): the verdict, score and ``flag_layer`` are the same, the verdict's
        ``curve`` holds only the looks taken.
        """
        t0 = time.perf_counter()
        name = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
        tp = load_toolpath(source, name)
        # supports, skirts, brims, rafts are not judged, unless they hold nothing up
        tp = replace(tp, aux=tp.aux & ~loose_scaffolding(tp)).object_moves()
        if not tp.extrude.any():
            raise GcodeError(f"{name}: no extruding moves of an object; nothing would be printed")
        looks, footprint, final, taken = self._replay(tp) if curve or not self._skimmable() else self._skim(tp)
        probs, objects = final if final is not None else self.classify(tp, footprint)
        flag = next((lk.layer for lk in looks if lk.flagged), None)
        return Verdict(
            file=name, verdict="clear" if flag is None else "weapon",
            label=self.classes[int(probs.argmax())], score=float(probs[self.weapon].sum()), layers=tp.n_layers,
            flag_layer=flag, probs={c: round(float(p), 4) for c, p in zip(self.classes, probs)}, objects=objects,
            curve=[asdict(lk) for lk in looks], ms=(time.perf_counter() - t0) * 1e3, looks=taken,
        )

    def replay(self, tp: Toolpath) -> list[Look]:
        """The streaming policy over a parsed toolpath's layers (what a live print sees)."""
        return self._replay(tp)[0]

    def _judge(self, tp: Toolpath, layers: list[int], footprint: Footprint | None,
               below: list[float] | None = None) -> list[tuple | None]:
        """(probs, objects) of the print after each of ``layers`` (ascending, 0-based),
        rendered together and classified in one call of each network. ``footprint``
        (brought up to each prefix in turn) or None: a new one for each.

        ``below`` (one value per look): a look is left to the first member alone, and is
        None, when that member shows the ensemble's score stays under its value: with M
        members and the first scoring s, no object's mean weapon score can exceed
        (s + M - 1) / M.
        """
        parts, spans, x = self._render(tp, layers, footprint)
        if not len(x):
            return [self._pick(np.zeros((0, len(self.classes))), np.zeros(0), [], np.zeros(0)) for _ in parts]
        m = len(self.nets)
        first = self._member(x, 0)
        full = range(len(parts))
        if below is not None and m > 1:
            full = [k for k, ((_, moves, sizes), (lo, hi)) in enumerate(zip(parts, spans))
                    if self._score(self._pick(first[0][lo:hi], first[1][lo:hi], moves, sizes)[0])
                    >= m * below[k] - (m - 1)]
        out: list[tuple | None] = [None] * len(parts)
        rows = np.concatenate([np.arange(*spans[k]) for k in full] + [np.zeros(0, int)])
        probs, dist = first[0][rows], first[1][rows]
        if len(rows) and m > 1:
            probs, dist = _mean([(probs, dist)] + [self._member(x[rows], i) for i in range(1, m)])
        at = 0
        for k in full:
            (_, moves, sizes), n = parts[k], spans[k][1] - spans[k][0]
            out[k] = self._pick(probs[at : at + n], dist[at : at + n], moves, sizes)
            at += n
        return out

    def _render(self, tp: Toolpath, layers: list[int], footprint: Footprint | None) -> tuple[list, list, np.ndarray]:
        """The objects of the print after each of ``layers`` (:meth:`parts`), the rows
        ``(lo, hi)`` of each look's objects, and all their images as floats (0-1)."""
        ends = np.searchsorted(tp.layer, np.asarray(layers, tp.layer.dtype) + 1)
        parts = [self.parts(tp.take(0, int(e)), footprint) for e in ends]
        spans = list(itertools.pairwise(np.cumsum([0] + [len(p[0]) for p in parts])))
        return parts, spans, np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0

    def _due(self, tp: Toolpath) -> list[int]:
        """The layers (0-based) after which the policy looks; they depend on heights only."""
        policy, n = _Policy(self), tp.n_layers
        return [k for k in range(n) if policy.due(float(tp.layer_z[k]), last=k == n - 1)]

    def _replay(self, tp: Toolpath, batch: int = 8) -> tuple[list[Look], Footprint, tuple | None, int]:
        """Looks, the plate's footprint, when the last layer was looked at its (probs,
        objects), and the number of looks. Looks are judged up to ``batch`` at a time
        (:func:`_batches`)."""
        policy = _Policy(self)
        n = tp.n_layers
        due = self._due(tp)
        footprint, looks, final = Footprint(), [], None
        for ks in _batches(due, batch):
            for k, judged in zip(ks, self._judge(tp, ks, footprint)):
                look = policy.update(k + 1, float(tp.layer_z[k]), judged, last=k == n - 1)
                looks.append(look)
                if k == n - 1:
                    final = judged
                if look.flagged:
                    return looks, footprint, final, len(looks)
        return looks, footprint, final, len(looks)

    def _skimmable(self) -> bool:
        """Whether :meth:`_skim` gives the replay's decision: no smoothing (each look's
        decision rests on its own window of looks) and every rule holds 2 looks or more."""
        rules = self.policy["rules"]
        return self.policy["ema"] == 1.0 and bool(rules) and min(r["hold"] for r in rules) >= 2

    def _skim(self, tp: Toolpath, batch: int = 8) -> tuple[list[Look], Footprint, tuple | None, int]:
        """:meth:`_replay`'s decision from fewer looks (needs :meth:`_skimmable`).

        Without smoothing, look j stops the print when some rule's ``hold`` looks ending at
        j all score at least its threshold. With ``short`` the smallest hold, every run of
        ``short`` looks in a row holds one look j with j % short == short - 1: judge those
        first (in order, up to ``batch`` at a time), and the other looks only near one that
        scores at least the lowest threshold. A window with a look left unjudged holds a
        judged one under every threshold, so it cannot stop the print. A clear print
        costs about 1/short of the looks; the looks near a hit are judged with new
        footprints (the running one only moves forward). A look that the ensemble's first
        member alone shows to stay under the lowest threshold is not run through the
        others (:meth:`_judge`'s ``below``); it is known, but not in the curve.
        """
        rules = self.policy["rules"]
        short, long = min(r["hold"] for r in rules), max(r["hold"] for r in rules)
        low = min(r["threshold"] for r in rules)
        due = self._due(tp)
        m = len(due)
        judged: list[tuple | None] = [None] * m
        scores = np.full(m, np.nan)  # NaN: not judged, -inf: under ``low``; both compare false
        footprint = Footprint()

        def judge(js: list[int], fp: Footprint | None) -> None:
            below = [-np.inf if j == m - 1 else low for j in js]  # the last look's score is the verdict's
            for j, jd in zip(js, self._judge(tp, [due[j] for j in js], fp, below)):
                judged[j], scores[j] = jd, -np.inf if jd is None else self._score(jd[0])

        def stops(j: int) -> bool:
            return any(j + 1 >= r["hold"] and bool((scores[j + 1 - r["hold"] : j + 1] >= r["threshold"]).all())
                       for r in rules)

        strided = [j for j in range(m) if j % short == short - 1 or j == m - 1]
        decided, flag = 0, None  # windows ending before ``decided`` do not stop the print
        for ks in _batches(strided, batch):
            judge(ks, footprint)
            near = sorted({i for k in ks if k < m - 1 and scores[k] >= low
                           for i in range(max(k - long + 1, 0), min(k + long, m - 1)) if np.isnan(scores[i])})
            for js in _batches(near, batch):
                judge(js, None)
            upto = min(ks[-1], m - 2)  # the last look is judged by the final threshold, not the rules
            flag = next((j for j in range(decided, upto + 1) if stops(j)), None)
            if flag is not None:
                break
            decided = upto + 1
        end = flag if flag is not None else m - 1
        looks = [Look(due[j] + 1, round(float(tp.layer_z[due[j]]), 4), round(float(scores[j]), 4),
                      round(float(scores[j]), 4), j == flag, _top_distance(judged[j][1]))
                 for j in range(end + 1) if judged[j] is not None]
        final = judged[m - 1] if flag is None else None
        if flag is None:
            looks[-1].flagged = bool(scores[m - 1] >= self.threshold)
        return looks, footprint, final, int(np.count_nonzero(~np.isnan(scores[: end + 1])))

    def _score(self, probs: np.ndarray) -> float:
        """A look's weapon score: its most weapon-like object's (0 when there is none)."""
        return float(np.nan_to_num(probs[self.weapon].sum()))


#: a layer this far (mm) below the last look starts the next object of a sequential print
#: (PrusaSlicer's "complete individual objects", Cura's "one at a time"): looks start
#: again from its own first millimetres, or a gun printed after a taller object would be
#: judged only when the file ends
SEQUENTIAL_DROP_MM = 1.0
#: while printing, scaffolding is judged (:func:`c3po.objects.loose_scaffolding`) once it
#: stopped growing this far below the last layer: a support's overhang is printed a
#: layer or two above it (a contact gap of 0.1-0.3 mm), well within this
SETTLED_MM = 3.0


class _Policy:
    """When to look, and the smoothed decision (shared by replay and live streaming).

    ``due(z)`` after each completed layer says whether to look (it depends on heights
    only); ``update`` takes the look's class probabilities.
    """

    def __init__(self, det: Detector):
        self.det, self.p = det, det.policy
        self.last_z = -np.inf
        self.smoothed: float | None = None
        self.hits = [0] * len(self.p["rules"])  # looks in a row at or above each rule's threshold
        self.flagged = False

    def due(self, z: float, last: bool = False) -> bool:
        p = self.p
        if z < self.last_z - SEQUENTIAL_DROP_MM:
            self.last_z = -np.inf  # a sequential print's next object: look at it as it grows
        if self.flagged or (z < p["min_height_mm"] and not last):
            return False  # the first layers are a footprint, too flat to judge
        if z - self.last_z >= max(p["step_mm"], p["step_frac"] * max(z, 0.0)) or last:
            self.last_z = z
            return True
        return False

    def update(self, layer: int, z: float, judged: tuple[np.ndarray, list[dict]], last: bool = False) -> Look:
        """Take a look's (probs, objects) (see :meth:`Detector.classify`)."""
        p = self.p
        probs, objects = judged
        score = self.det._score(probs)
        a = p["ema"]
        self.smoothed = score if self.smoothed is None else a * score + (1 - a) * self.smoothed
        self.hits = [h + 1 if self.smoothed >= r["threshold"] else 0 for h, r in zip(self.hits, p["rules"])]
        if last:  # the file ends: a weapon-like finished print is flagged, however smoothed
            self.flagged = max(score, self.smoothed) >= self.det.threshold
        else:
            self.flagged = any(h >= r["hold"] for h, r in zip(self.hits, p["rules"]))
        return Look(layer, round(z, 4), round(score, 4), round(self.smoothed, 4), self.flagged, _top_distance(objects))


class StreamDetector:
    """Feed G-code as it is printed; ``flagged`` turns true when the print should stop.

    ``feed(chunk)`` and ``close()`` return the looks taken (usually none); after a flag,
    later layers are parsed but not classified.
    """

    def __init__(self, detector: Detector, name: str = "<stream>"):
        self.detector = detector
        self.parser = StreamParser(name)
        self._policy = _Policy(detector)
        self._footprint = Footprint()
        self._moves = 0
        self.loose_moves = 0  # moves marked as scaffolding judged as the object's at the last look
        self.looks: list[Look] = []

    @property
    def flagged(self) -> bool:
        return self._policy.flagged

    @property
    def flag_layer(self) -> int | None:
        return next((lk.layer for lk in self.looks if lk.flagged), None)

    @property
    def score(self) -> float | None:
        return self._policy.smoothed

    @property
    def layers(self) -> int:
        return self.parser.layer + 1 if self.parser.layer >= 0 else 0

    def feed(self, data: bytes | str) -> list[Look]:
        return self._handle(self.parser.feed(data))

    def close(self) -> list[Look]:
        return self._handle(self.parser.close(), closing=True)

    def _handle(self, layers: list[Toolpath], closing: bool = False) -> list[Look]:
        new = []
        for i, layer in enumerate(layers):
            self._moves += len(layer)
            last = closing and i == len(layers) - 1
            z = float(layer.layer_z[-1]) if len(layer.layer_z) else 0.0
            if self._policy.due(z, last):
                judged = self.detector.classify(self._object(last), self._footprint)
                new.append(self._policy.update(int(layer.layer[-1]) + 1, z, judged, last))
        self.looks += new
        return new

    def _object(self, last: bool) -> Toolpath:
        """The print so far with the object's moves extruding: scaffolding that holds
        nothing up once it stopped growing ``SETTLED_MM`` below the last layer (at the
        last layer: as the whole-file scan judges it) counts as the object's."""
        tp = self.parser.prefix(self._moves)
        if tp.aux.any():
            loose = loose_scaffolding(tp, settled_mm=None if last else SETTLED_MM)
            n = int(np.count_nonzero(loose))
            if n:
                tp = replace(tp, aux=tp.aux & ~loose)
            if n != self.loose_moves:  # earlier moves joined the object: a new footprint
                self.loose_moves, self._footprint = n, Footprint()
        return tp.object_moves()


def _mean(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The members' (probs, distances), averaged."""
    return np.mean([p for p, _ in runs], axis=0), np.mean([d for _, d in runs], axis=0)


def _top_distance(objects: list[dict]) -> float | None:
    """The most weapon-like object's feature distance (None without objects or a gate)."""
    return max(objects, key=lambda o: o["score"], default={}).get("distance")


def _batches(items: list, largest: int):
    """``items`` in slices of 2, 4, ... up to ``largest``: a print stopped at its first
    looks is not charged a whole batch of later ones."""
    i, size = 0, min(2, largest)
    while i < len(items):
        yield items[i : i + size]
        i, size = i + size, min(2 * size, largest)


def load_toolpath(source, name: str) -> Toolpath:
    """G-code (path, bytes, .gz), a mesh file sliced with the built-in slicer, or an
    already parsed toolpath."""
    if isinstance(source, Toolpath):
        return source
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() in MESH_EXTS:
        from c3po.slicer import slice_mesh

        return parse_gcode(slice_mesh(source), name=name)
    return parse_gcode(source, name=name)


def _extent(tp: Toolpath, select: np.ndarray, ranges: np.ndarray) -> float:
    """Largest extent (mm) along x, y or z of the extruding moves ``select`` within ``ranges``."""
    lo, hi, _, _ = _raster.extrude_stats(tp.start, tp.end, tp.e, select, ranges, _IDENTITY)
    return float((hi - lo).max()) if lo[0] <= hi[0] else 0.0
