"""Numpy-only inference of a model bundle: what runs on the printer's host.

A network is a list of layer specs (plain dicts, stored in ``bundle.json``) plus named
weights (``model.safetensors``). Supported layers, all the models in ``c3po.nn`` use:

    conv2d(out, k, pad)  relu  maxpool(k)  flatten  linear  gap (global average pool)
    views(n, sub)        run ``sub`` on each of ``n`` channel groups, concatenate features

Batch-norm layers are folded into the preceding convolution at export, so they never
reach the runtime. Tensors are NCHW float32.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from c3po.errors import ModelError

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "I8": np.int8}


def load_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Read a .safetensors file with numpy alone (no torch, no safetensors package)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
    except (OSError, struct.error, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc}); re-export the model") from exc
    out = {}
    base = 8 + n
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in _DTYPES:
            raise ModelError(f"{path}: tensor {name} has unsupported dtype {spec['dtype']}")
        a, b = spec["data_offsets"]
        arr = np.frombuffer(raw[base + a : base + b], dtype=_DTYPES[spec["dtype"]])
        out[name] = arr.reshape(spec["shape"]).copy()
    return out


def save_safetensors(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write numpy arrays as a .safetensors file (the format torch and others read)."""
    rev = {v: k for k, v in _DTYPES.items()}
    header: dict = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        if arr.dtype.type not in rev:
            raise ModelError(f"cannot store tensor {name} of dtype {arr.dtype}")
        header[name] = {"dtype": rev[arr.dtype.type], "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def _conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """x (N, H, W, C), w (O, C, k, k) -> (N, H', W', O); im2col + one matmul.

    Channels last: each window's (k, k, C) values are copied as runs of C contiguous
    floats, and the matmul's output is already the next layer's layout.
    """
    n, h, wd, c = x.shape
    o, _, k, _ = w.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho, wo = x.shape[1] - k + 1, x.shape[2] - k + 1
    cols = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # N Ho Wo C k k
    cols = cols.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, k * k * c)
    y = cols @ w.transpose(0, 2, 3, 1).reshape(o, -1).T
    y += b  # in place: no second output-sized array
    return y.reshape(n, ho, wo, o)


def _maxpool(x: np.ndarray, k: int) -> np.ndarray:
    """x (N, H, W, C) -> (N, H // k, W // k, C): the maximum of the k * k strided views
    (element-wise, far faster than a reduction over two inner axes)."""
    h2, w2 = x.shape[1] // k, x.shape[2] // k
    out = x[:, : h2 * k : k, : w2 * k : k].copy()
    for dy in range(k):
        for dx in range(k):
            if dy or dx:
                np.maximum(out, x[:, dy : h2 * k : k, dx : w2 * k : k], out=out)
    return out


def run_layers(layers: list[dict], weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Apply ``layers`` to ``x`` (N, C, H, W) float32; returns the last layer's output.

    Image layers run channels last (N, H, W, C) inside; ``flatten`` restores torch's
    (C, H, W) order first, so linear layers see what they were trained on.
    """
    last = False  # x is (N, H, W, C)
    for spec in layers:
        kind = spec["type"]
        if kind in ("conv2d", "maxpool", "gap") and not last:
            x, last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), True
        if kind == "conv2d":
            x = _conv2d(x, weights[spec["name"] + ".weight"], weights[spec["name"] + ".bias"], spec.get("pad", 0))
        elif kind == "relu":
            x = np.maximum(x, 0, out=x)
        elif kind == "maxpool":
            x = _maxpool(x, spec["k"])
        elif kind == "gap":
            x, last = x.mean(axis=(1, 2)), False
        elif kind == "flatten":
            if last:
                x, last = x.transpose(0, 3, 1, 2), False
            x = x.reshape(len(x), -1)
        elif kind == "linear":
            x = x @ weights[spec["name"] + ".weight"].T + weights[spec["name"] + ".bias"]
        elif kind == "views":  # one shared sub-network over each view: run them as one batch
            n, n_views = len(x), spec["n"]
            per = x.shape[1] // n_views
            feats = run_layers(spec["sub"], weights, x.reshape(n * n_views, per, *x.shape[2:]))
            x = feats.reshape(n, n_views * feats.shape[1])
        else:
            raise ModelError(f"unknown layer type {kind!r} in the bundle; update c3po")
    if last:
        x = x.transpose(0, 3, 1, 2)
    return x


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Network:
    """A bundle's network: ``Network(layers, weights)(x) -> (N, classes) probabilities``.

    With a ``head`` (the sequence model) ``x`` is frames (N, T, C, H, W): ``layers``
    turn each frame into features, whose maximum over the T frames (the causal running
    maximum at the last frame) the head classifies.
    """

    def __init__(self, layers: list[dict], weights: dict[str, np.ndarray], head: list[dict] | None = None):
        self.layers, self.head = layers, head
        self.weights = {k: v.astype(np.float32) for k, v in weights.items()}
        missing = [
            f"{s['name']}.{p}" for s in _walk(layers + (head or [])) if s["type"] in ("conv2d", "linear")
            for p in ("weight", "bias")
            if f"{s['name']}.{p}" not in self.weights
        ]
        if missing:
            raise ModelError(f"bundle weights lack {', '.join(missing[:3])}; the bundle is broken, re-export it")

    def features(self, x: np.ndarray) -> np.ndarray:
        """(N, F): what the last layer sees (the input to the classifier)."""
        x = np.asarray(x, np.float32)
        if self.head is None:
            return run_layers(self.layers[:-1], self.weights, x)
        n, t = x.shape[:2]
        f = run_layers(self.layers, self.weights, x.reshape(n * t, *x.shape[2:])).reshape(n, t, -1)
        return run_layers(self.head[:-1], self.weights, f.max(1))

    def classify(self, features: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities from :meth:`features`."""
        return softmax(run_layers((self.head or self.layers)[-1:], self.weights, features))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.classify(self.features(x))

    @property
    def n_params(self) -> int:
        return int(sum(v.size for v in self.weights.values()))


def load_network(bundle_dir: str | Path, entry: dict) -> Network:
    """The network of a bundle's model entry (its layer spec, weights file and head)."""
    return Network(entry["layers"], load_safetensors(Path(bundle_dir) / entry["weights"]), entry.get("head"))


def weight_files(entry: dict) -> list[str]:
    """The weights files of a model entry: one, or one per member of an ensemble (members
    share the entry's layers and input and differ in their weights only)."""
    w = entry["weights"]
    return [w] if isinstance(w, str) else list(w)


def load_networks(bundle_dir: str | Path, entry: dict) -> list[Network]:
    """The networks of a model entry, one per weights file (see :func:`weight_files`)."""
    return [load_network(bundle_dir, {**entry, "weights": w}) for w in weight_files(entry)]


def ensemble_probs(nets: list[Network], x: np.ndarray, batch: int = 256) -> np.ndarray:
    """(N, classes): the members' probabilities of inputs ``x`` (uint8, N first), averaged."""
    return np.concatenate([np.mean([net(x[i : i + batch].astype(np.float32) / 255) for net in nets], axis=0)
                           for i in range(0, len(x), batch)])


def _walk(layers: list[dict]):
    for s in layers:
        yield s
        if s["type"] == "views":
            yield from _walk(s["sub"])
