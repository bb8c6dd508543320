"""Trained torch model -> bundle directory the numpy detector loads.

    bundle.json            classes, weapon classes, threshold, streaming policy, metrics,
                           and per model: kind, input (render settings), layers, weights file
    <role>.safetensors     float32 weights, batch norms folded

Only this module and training import torch; the bundle is read by :mod:`c3po.detect`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from c3po.nn import export_layers
from c3po.runtime import load_network, save_safetensors

WEAPON_CLASSES = ["pistol", "revolver", "rifle"]


def add_model(out: str | Path, role: str, model, input_spec: dict, metrics: dict | None = None) -> dict:
    """Write ``role``'s weights into bundle ``out`` and return its bundle.json entry."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec, weights = export_layers(model)
    save_safetensors(out / f"{role}.safetensors", weights, {"model": model.name})
    entry = {
        "kind": model.name, "input": input_spec, "layers": spec["layers"], "head": spec["head"],
        "weights": f"{role}.safetensors", "params": int(sum(v.size for v in weights.values())),
        "metrics": metrics or {},
    }
    return entry


def write_bundle(out: str | Path, classes: list[str], models: dict[str, dict], threshold: float = 0.5,
                 stream: dict | None = None, metrics: dict | None = None, **extra) -> Path:
    """Write bundle.json; ``models`` maps a role ("projection", "camera", ...) to add_model's entry."""
    out = Path(out)
    meta = {
        "format": "c3po-bundle/1", "classes": list(classes),
        "weapon_classes": [c for c in classes if c in WEAPON_CLASSES],
        "threshold": float(threshold), "stream": stream or {}, "models": models, "metrics": metrics or {}, **extra,
    }
    (out / "bundle.json").write_text(json.dumps(meta, indent=1))
    return out / "bundle.json"


def check_roundtrip(model, entry: dict, out: str | Path, x: np.ndarray, atol: float = 1e-4) -> float:
    """Max |torch - numpy runtime| probability difference on inputs ``x`` (N, C, H, W) float32."""
    import torch

    net = load_network(out, entry)
    model.eval()
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), -1).numpy()
    diff = float(np.abs(net(x) - want).max())
    if diff > atol:
        raise AssertionError(f"exported model differs from torch by {diff}")
    return diff
