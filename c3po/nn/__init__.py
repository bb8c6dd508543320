"""CNN models, each defined once as a layer spec that torch trains and numpy runs.

A spec is a list of plain dicts (see :mod:`c3po.runtime` for the layer types).
``create_model(name)`` builds a torch module from it; :func:`export_layers` folds
batch norms and drops dropout so the numpy runtime runs the very same network.

    lenet5      (1, 28, 28)      the 61k setting and the compression testbed
    multiview   (3, 64, 64)      the three projections of one object; a shared
                                 per-view CNN, features concatenated in view order
    sequence    (T, 1, 64, 64)   per-frame CNN on camera frames, causal running maximum
                                 of frame features over layers, then a classifier
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

from c3po.errors import ModelError

_MODELS: dict[str, Callable[..., "SpecNet"]] = {}


def register_model(name: str):
    def deco(fn):
        if name in _MODELS:
            raise ModelError(f"model {name!r} is registered twice")
        _MODELS[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return list(_MODELS)


def create_model(name: str, **kw) -> nn.Module:
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(_MODELS)}")
    model = _MODELS[name](**kw)
    model.name = name
    return model


# ---- spec -> torch ----------------------------------------------------------------


def _build(spec: list[dict]) -> nn.ModuleList:
    mods = nn.ModuleList()
    for s in spec:
        t = s["type"]
        if t == "conv2d":
            mods.append(nn.Conv2d(s["in"], s["out"], s["k"], padding=s.get("pad", 0)))
        elif t == "bn":
            mods.append(nn.BatchNorm2d(s["ch"]))
        elif t == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif t == "maxpool":
            mods.append(nn.MaxPool2d(s["k"]))
        elif t == "gap":
            mods.append(nn.AdaptiveAvgPool2d(1))
        elif t == "flatten":
            mods.append(nn.Flatten())
        elif t == "linear":
            mods.append(nn.Linear(s["in"], s["out"]))
        elif t == "dropout":
            mods.append(nn.Dropout(s["p"]))
        elif t == "views":
            mods.append(_Views(s["n"], _build(s["sub"])))
        else:
            raise ModelError(f"unknown layer type {t!r}")
    return mods


class _Views(nn.Module):
    def __init__(self, n: int, sub: nn.ModuleList):
        super().__init__()
        self.n, self.sub = n, sub

    def forward(self, x):
        b, c, h, w = x.shape
        y = x.reshape(b * self.n, c // self.n, h, w)
        for m in self.sub:
            y = m(y)
        y = y.reshape(b, self.n, -1)
        return y.reshape(b, -1)


def _run(mods: nn.ModuleList, x):
    for m in mods:
        x = m(x)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            x = x.flatten(1)
    return x


class SpecNet(nn.Module):
    """A feed-forward network from a spec: images (N, C, H, W) -> logits (N, K)."""

    def __init__(self, spec: list[dict], input_shape: tuple[int, ...], classes: int):
        super().__init__()
        self.spec, self.input_shape, self.classes = spec, tuple(input_shape), classes
        self.body = _build(spec)

    def forward(self, x):
        return _run(self.body, x)


class SequenceNet(nn.Module):
    """Frames (N, T, C, H, W) -> logits (N, T, K) after each frame, from the causal
    running maximum of per-frame features: the prediction at layer t sees frames 0..t.
    A running mean let the first frames, a footprint on an empty bed, dilute what the
    later ones show (test accuracy 0.48 against 0.63 after 6 epochs; docs/model-history.md)."""

    def __init__(self, frame: list[dict], head: list[dict], input_shape: tuple[int, ...], classes: int):
        super().__init__()
        self.spec, self.head_spec = frame, head
        self.input_shape, self.classes = tuple(input_shape), classes
        self.frame = _build(frame)
        self.head = _build(head)

    def forward(self, x):
        n, t = x.shape[:2]
        f = _run(self.frame, x.flatten(0, 1)).reshape(n, t, -1)
        run = [f[:, 0]]  # the running maximum; torch.cummax's backward is not deterministic on CUDA
        for k in range(1, t):
            run.append(torch.maximum(run[-1], f[:, k]))
        f = torch.stack(run, 1)
        return _run(self.head, f.flatten(0, 1)).reshape(n, t, -1)


# ---- the registered models -----------------------------------------------------------


def _cnn(cin: int, widths: list[int], prefix: str) -> list[dict]:
    """conv3x3-bn-relu blocks, a 2x2 max pool after each but the last, then global pool."""
    spec, c = [], cin
    for i, w in enumerate(widths):
        spec += [
            {"type": "conv2d", "name": f"{prefix}{i}", "in": c, "out": w, "k": 3, "pad": 1},
            {"type": "bn", "name": f"{prefix}{i}bn", "ch": w},
            {"type": "relu"},
        ]
        if i < len(widths) - 1:
            spec.append({"type": "maxpool", "k": 2})
        c = w
    return spec + [{"type": "gap"}]


@register_model("lenet5")
def lenet5(classes: int = 10) -> SpecNet:
    spec = [
        {"type": "conv2d", "name": "conv1", "in": 1, "out": 6, "k": 5, "pad": 2},
        {"type": "relu"},
        {"type": "maxpool", "k": 2},
        {"type": "conv2d", "name": "conv2", "in": 6, "out": 16, "k": 5},
        {"type": "relu"},
        {"type": "maxpool", "k": 2},
        {"type": "flatten"},
        {"type": "linear", "name": "fc1", "in": 400, "out": 120},
        {"type": "relu"},
        {"type": "linear", "name": "fc2", "in": 120, "out": 84},
        {"type": "relu"},
        {"type": "linear", "name": "fc3", "in": 84, "out": classes},
    ]
    return SpecNet(spec, (1, 28, 28), classes)


@register_model("multiview")
def multiview(classes: int = 10, size: int = 64, views: int = 3, widths=(16, 32, 64, 128, 128)) -> SpecNet:
    """Five conv blocks pool a 64 px view to 4x4 before the global pool: each feature then
    sees the whole view (receptive field 78 px), so the head can tell where a grip sits
    against a barrel, not only that both are there. Four blocks (16, 32, 64, 64: 38 px,
    pooled at 8x8) underfit; the comparison is in docs/model-history.md (session 12)."""
    spec = [
        {"type": "views", "n": views, "sub": _cnn(1, list(widths), "v")},
        {"type": "linear", "name": "fc1", "in": views * widths[-1], "out": 128},
        {"type": "relu"},
        {"type": "dropout", "p": 0.3},
        {"type": "linear", "name": "fc2", "in": 128, "out": classes},
    ]
    return SpecNet(spec, (views, size, size), classes)


@register_model("sequence")
def sequence(classes: int = 10, size: int = 64, widths=(16, 32, 64, 64)) -> SequenceNet:
    head = [
        {"type": "linear", "name": "fc1", "in": widths[-1], "out": 64},
        {"type": "relu"},
        {"type": "linear", "name": "fc2", "in": 64, "out": classes},
    ]
    return SequenceNet(_cnn(1, list(widths), "f"), head, (1, size, size), classes)


# ---- export: torch -> (layers, numpy weights) -------------------------------------------


def _export(spec: list[dict], mods: nn.ModuleList, prefix: str, out: dict) -> list[dict]:
    layers = []
    for s, m in zip(spec, mods):
        t = s["type"]
        if t in ("conv2d", "linear"):
            out[s["name"] + ".weight"] = m.weight.detach().cpu().numpy().astype(np.float32)
            out[s["name"] + ".bias"] = m.bias.detach().cpu().numpy().astype(np.float32)
            layers.append({k: v for k, v in s.items() if k in ("type", "name", "pad", "in", "out", "k")})
        elif t == "bn":  # fold into the convolution before it
            conv = layers[-1]
            assert conv["type"] == "conv2d", "bn must follow a conv2d"
            scale = (m.weight / torch.sqrt(m.running_var + m.eps)).detach().cpu().numpy()
            shift = (m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)).detach().cpu().numpy()
            w, b = out[conv["name"] + ".weight"], out[conv["name"] + ".bias"]
            out[conv["name"] + ".weight"] = (w * scale[:, None, None, None]).astype(np.float32)
            out[conv["name"] + ".bias"] = (b * scale + shift).astype(np.float32)
        elif t == "dropout":
            continue
        elif t == "views":
            layers.append({"type": "views", "n": s["n"], "sub": _export(s["sub"], m.sub, prefix, out)})
        else:
            layers.append(copy.deepcopy(s))
    return layers


def export_layers(model: nn.Module) -> dict:
    """The runtime form of a trained model: ``{"layers": [...], "head": [...]|None}``
    and a dict of float32 numpy weights (batch norms folded, dropout removed)."""
    weights: dict[str, np.ndarray] = {}
    if isinstance(model, SequenceNet):
        layers = _export(model.spec, model.frame, "", weights)
        head = _export(model.head_spec, model.head, "", weights)
        return {"layers": layers, "head": head}, weights
    return {"layers": _export(model.spec, model.body, "", weights), "head": None}, weights
