"""The detector: is this print a weapon? Whole files and live prints, numpy only.

A bundle (``models/default/``) holds ``bundle.json`` (classes, render settings,
thresholds, the streaming policy, metrics, the layer specs) and the weights as
safetensors. :class:`Detector` renders a toolpath the way the model was trained,
splits the plate into objects (a gun among other objects is still found) and
classifies each; the plate's score is its most weapon-like object's.

Streaming (:class:`StreamDetector`) feeds G-code as the printer receives it. Once the
print is ``min_height_mm`` tall (lower, it is a footprint too flat to judge), after a
completed layer it classifies the print so far when the print has grown by
``step_mm`` or by ``step_frac`` of its height since the last look (a printer has time
for every layer; the geometric schedule keeps a whole-file scan fast), smooths the
weapon score with an exponential moving average and aborts once the smoothed score
stays at or above the policy's ``threshold`` (stricter than the final one: a partly
printed object is less certain) for ``hold`` looks in a row. The whole-file
``scan`` runs the same policy over the parsed layers, so its ``flag_layer`` is the
layer at which a live print would be stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from c3po import render
from c3po.errors import C3POError, GcodeError, ModelError
from c3po.gcode import StreamParser, parse_gcode
from c3po.mesh import MESH_EXTS
from c3po.objects import split_objects
from c3po.runtime import Network, load_safetensors
from c3po.toolpath import Toolpath

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "models" / "default"
MAX_LAYERS_PER_PX = 3  # projections draw at most 3 layers per pixel of image height (see render.project)
DEFAULT_POLICY = {"step_mm": 1.0, "step_frac": 0.1, "ema": 0.5, "hold": 2, "min_height_mm": 2.0}


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


class Detector:
    """Classify toolpaths with a bundle's projection model."""

    def __init__(self, bundle: dict, net: Network, path: Path | None = None):
        self.bundle, self.net, self.path = bundle, net, path
        self.classes: list[str] = bundle["classes"]
        self.weapon = np.array([c in bundle["weapon_classes"] for c in self.classes])
        self.threshold = float(bundle["threshold"])
        self.policy = {**DEFAULT_POLICY, **bundle.get("stream", {})}
        self.render = bundle["models"]["projection"]["input"]

    @classmethod
    def from_bundle(cls, path: str | Path | None = None, threshold: float | None = None) -> Detector:
        path = Path(path) if path is not None else DEFAULT_BUNDLE
        meta = path / "bundle.json"
        if not meta.is_file():
            raise ModelError(f"{path}: no bundle.json; give a model bundle directory (e.g. models/default)")
        try:
            bundle = json.loads(meta.read_text())
            spec = bundle["models"]["projection"]
            net = Network(spec["layers"], load_safetensors(path / spec["weights"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"{meta}: broken bundle ({exc}); re-export the model") from exc
        if threshold is not None:
            if not 0 <= threshold <= 1:
                raise C3POError(f"threshold must be within 0..1, got {threshold}")
            bundle["threshold"] = threshold
            bundle.setdefault("stream", {})["threshold"] = threshold  # one knob: both decisions
        return cls(bundle, net, path)

    # ---- classification ---------------------------------------------------------------

    def images(self, tp: Toolpath) -> np.ndarray:
        """(V, S, S) uint8 projections rendered as the model was trained (V: its views)."""
        r = self.render
        views = render.project(tp, r["size"], margin=r.get("margin", 0.1), canonical=r.get("canonical", False),
                               max_layers=MAX_LAYERS_PER_PX * r["size"])
        return views[[render.VIEWS.index(v) for v in r.get("views", render.VIEWS)]]

    def classify(self, tp: Toolpath) -> tuple[np.ndarray, list[dict]]:
        """Class probabilities (K,) of the plate's most weapon-like object, and all objects."""
        tp = _thin(tp, MAX_LAYERS_PER_PX * self.render["size"])  # what the projections draw, nothing more
        groups = split_objects(tp)
        if not groups:
            return np.full(len(self.classes), np.nan), []
        parts = [tp] if len(groups) == 1 else [_select(tp, g) for g in groups]
        x = np.stack([self.images(part) for part in parts]).astype(np.float32) / 255.0
        probs = self.net(x)
        scores = probs[:, self.weapon].sum(1)
        objects = [
            {"label": self.classes[int(p.argmax())], "score": float(s), "moves": int(len(g))}
            for p, s, g in zip(probs, scores, groups)
        ]
        return probs[int(scores.argmax())], objects

    def stream(self, name: str = "<stream>") -> StreamDetector:
        return StreamDetector(self, name)

    def scan(self, source, name: str | None = None) -> Verdict:
        """Judge a whole file: G-code (path, bytes; .gz too) or a mesh (sliced first)."""
        t0 = time.perf_counter()
        name = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
        tp = load_toolpath(source, name)
        if not tp.extrude.any():
            raise GcodeError(f"{name}: no extruding moves; nothing would be printed")
        probs, objects = self.classify(tp)
        score = float(probs[self.weapon].sum())
        looks = self.replay(tp)
        flag = next((lk.layer for lk in looks if lk.flagged), None)
        return Verdict(
            file=name, verdict="clear" if flag is None else "weapon",
            label=self.classes[int(probs.argmax())], score=score, layers=tp.n_layers, flag_layer=flag,
            probs={c: round(float(p), 4) for c, p in zip(self.classes, probs)}, objects=objects,
            curve=[asdict(lk) for lk in looks], ms=(time.perf_counter() - t0) * 1e3,
        )

    def replay(self, tp: Toolpath) -> list[Look]:
        """The streaming policy over a parsed toolpath's layers (what a live print sees)."""
        policy = _Policy(self)
        bounds = np.searchsorted(tp.layer, np.arange(1, tp.n_layers + 1))
        looks = []
        for k in range(tp.n_layers):
            look = policy.after_layer(k + 1, float(tp.layer_z[k]), lambda j=int(bounds[k]): tp.take(0, j), last=k == tp.n_layers - 1)
            if look is not None:
                looks.append(look)
                if look.flagged:
                    break
        return looks


class _Policy:
    """When to look, and the smoothed decision (shared by replay and live streaming)."""

    def __init__(self, det: Detector):
        self.det, self.p = det, det.policy
        self.last_z = -np.inf
        self.smoothed: float | None = None
        self.hits = 0
        self.flagged = False

    def after_layer(self, layer: int, z: float, prefix, last: bool = False) -> Look | None:
        """``prefix()`` gives the toolpath printed so far; returns a Look when one is taken."""
        p = self.p
        if self.flagged or (z < p["min_height_mm"] and not last):
            return None  # the first layers are a footprint, too flat to judge
        due = z - self.last_z >= max(p["step_mm"], p["step_frac"] * max(z, 0.0))
        if not (due or last):
            return None
        self.last_z = z
        probs, _ = self.det.classify(prefix())
        score = float(np.nan_to_num(probs[self.det.weapon].sum()))
        a = p["ema"]
        self.smoothed = score if self.smoothed is None else a * score + (1 - a) * self.smoothed
        self.hits = self.hits + 1 if self.smoothed >= p.get("threshold", self.det.threshold) else 0
        if last:  # the file ends: a weapon-like finished print is flagged, however smoothed
            self.flagged = max(score, self.smoothed) >= self.det.threshold
        else:
            self.flagged = self.hits >= p["hold"]
        return Look(layer, round(z, 4), round(score, 4), round(self.smoothed, 4), self.flagged)


class StreamDetector:
    """Feed G-code as it is printed; ``flagged`` turns true when the print should stop.

    ``feed(chunk)`` and ``close()`` return the looks taken (usually none); after a flag,
    later layers are parsed but not classified.
    """

    def __init__(self, detector: Detector, name: str = "<stream>"):
        self.detector = detector
        self.parser = StreamParser(name)
        self._policy = _Policy(detector)
        self._moves = 0
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
            k = int(layer.layer[-1]) + 1
            j = self._moves
            look = self._policy.after_layer(
                k, float(layer.layer_z[-1]) if len(layer.layer_z) else 0.0,
                lambda j=j: self.parser.prefix(j), last=closing and i == len(layers) - 1,
            )
            if look is not None:
                new.append(look)
        self.looks += new
        return new


def _thin(tp: Toolpath, max_layers: int) -> Toolpath:
    """``tp`` with only the extruding moves of every k-th layer (the last included) still
    marked extruding, at most ``max_layers`` layers: the same rule as
    :func:`c3po.render.project`'s ``max_layers``. Arrays are shared, not copied."""
    if tp.n_layers <= max_layers:
        return tp
    k = -(-tp.n_layers // max_layers)
    return replace(tp, extrude=tp.extrude & ((tp.n_layers - 1 - tp.layer) % k == 0))


def _select(tp: Toolpath, idx: np.ndarray) -> Toolpath:
    """The moves ``idx`` (sorted indices) of ``tp`` as a Toolpath."""
    return Toolpath(
        start=tp.start[idx], end=tp.end[idx], e=tp.e[idx], extrude=tp.extrude[idx], feed=tp.feed[idx],
        layer=tp.layer[idx], line=tp.line[idx], tool=tp.tool[idx], layer_z=tp.layer_z, lines=tp.lines,
    )


def load_toolpath(source, name: str) -> Toolpath:
    """G-code (path, bytes, .gz) or a mesh file sliced with the built-in slicer."""
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() in MESH_EXTS:
        from c3po.slicer import slice_mesh

        return parse_gcode(slice_mesh(source), name=name)
    return parse_gcode(source, name=name)
