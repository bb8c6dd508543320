"""One readable training loop for every model in :mod:`c3po.nn`.

Data are plain arrays: images ``x`` (N, C, H, W) uint8 (or frames (N, T, 1, H, W) for
the sequence model) and labels ``y`` (N,) int. ``TrainConfig`` is saved beside the
output; checkpoints are safetensors plus JSON, written every epoch, and ``resume``
continues an interrupted run exactly where the last checkpoint left it.

Augmentation (on by default, training split only), each drawn per sample:

* mirror: the object printed mirrored; for three projections (top, front, side) a
  mirror in X flips the top and front views left-right, a mirror in Y flips the top
  view up-down and the side view left-right, so the views stay one consistent object;
* line width: a 3x3 grey dilation (thicker extrusion) or erosion (thinner), p=0.15 each;
* scale: the image shrunk by up to 20% about its centre (a smaller object, thicker
  lines relative to it), p=0.3.

Z rotations, poses and scales of the object itself are rendered into the dataset.

Speed: weights in channels-last layout and bfloat16 autocast (float32 master weights,
loss in float32) where the device computes bfloat16 natively (CUDA, or a CPU with
AVX512-BF16/AMX); elsewhere float32. On this project's 2-core machine that makes a
multiview step 2.7x faster. Validation and export stay float32.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from c3po.errors import C3POError
from c3po.nn import SequenceNet, create_model
from c3po.runtime import load_safetensors, save_safetensors


@dataclass
class TrainConfig:
    model: str = "lenet5"
    data: str = "data/build/61k"
    out: str = "models/runs/lenet5"
    epochs: int = 12
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    augment: bool = True
    seed: int = 0
    threads: int = 2
    bf16: bool = True  # bfloat16 autocast where the device has it natively (see the module docstring)
    device: str = "cpu"  # "cuda" trains on a GPU where one is present; the result is returned on the CPU
    classes: list[str] = field(default_factory=list)
    resume: bool = False


def _augment(x: torch.Tensor, g: torch.Generator, views3: bool) -> torch.Tensor:
    """x (B, C, H, W) float in [0, 1] -> augmented copy (see the module docstring)."""
    b = x.shape[0]
    x = x.clone()
    mx = torch.rand(b, generator=g) < 0.5
    my = torch.rand(b, generator=g) < 0.5
    if views3:
        x[mx, 0:2] = x[mx, 0:2].flip(-1)
        x[my, 0] = x[my, 0].flip(-2)
        x[my, 2] = x[my, 2].flip(-1)
    else:
        x[mx] = x[mx].flip(-1)
        x[my] = x[my].flip(-2)
    u = torch.rand(b, generator=g)
    thick, thin = u < 0.15, (u >= 0.15) & (u < 0.3)
    if thick.any():
        x[thick] = F.max_pool2d(x[thick], 3, 1, 1)
    if thin.any():
        x[thin] = -F.max_pool2d(-x[thin], 3, 1, 1)
    shrink = torch.rand(b, generator=g) < 0.3
    if shrink.any():
        s = 1 + 0.25 * torch.rand(int(shrink.sum()), generator=g)  # zoom out by up to 1/1.25
        theta = torch.zeros(len(s), 2, 3)
        theta[:, 0, 0] = s
        theta[:, 1, 1] = s
        grid = F.affine_grid(theta, x[shrink].shape, align_corners=False)
        x[shrink] = F.grid_sample(x[shrink], grid, align_corners=False, padding_mode="zeros")
    return x


def _autocast(device: str, want: bool):
    kind = torch.device(device).type
    native = torch.cuda.is_bf16_supported() if kind == "cuda" else torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=want and native)


def _forward(model, xb: torch.Tensor) -> torch.Tensor:
    """Logits (B, K); for the sequence model, every prefix is a sample (B*T, K)."""
    out = model(xb)
    return out.flatten(0, 1) if isinstance(model, SequenceNet) else out


def _targets(model, yb: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
    return yb.repeat_interleave(xb.shape[1]) if isinstance(model, SequenceNet) else yb


def _to_float(xb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(xb).float().div_(255.0)


def evaluate_arrays(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Class probabilities (N, K) — for the sequence model, after the last frame."""
    model.eval()
    out = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(_to_float(x[i : i + batch]).to(device))
            if isinstance(model, SequenceNet):
                logits = logits[:, -1]
            out.append(torch.softmax(logits, -1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.classes), np.float32)


def save_checkpoint(path: Path, model, opt, sched, epoch: int, history: list, cfg: TrainConfig) -> None:
    tensors = {f"model.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = v.detach().cpu().numpy().reshape(v.shape)
    tmp = path.with_suffix(".tmp")
    save_safetensors(tmp, {k: np.asarray(v) for k, v in tensors.items()})
    tmp.replace(path.with_suffix(".safetensors"))
    meta = {"epoch": epoch, "history": history, "config": asdict(cfg), "rng": torch.get_rng_state().tolist(),
            "scheduler": sched.state_dict(), "param_groups": opt.state_dict()["param_groups"]}
    if torch.device(cfg.device).type == "cuda":  # dropout on the GPU draws from the device's own generator
        meta["cuda_rng"] = torch.cuda.get_rng_state(cfg.device).tolist()
    path.with_suffix(".json").write_text(json.dumps(meta))


def load_checkpoint(path: Path, model, opt=None, sched=None) -> dict:
    """Restore model (optimizer, scheduler) state; returns the checkpoint's JSON."""
    tensors = load_safetensors(path.with_suffix(".safetensors"))
    state = {k[6:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(state)
    meta = json.loads(path.with_suffix(".json").read_text())
    if opt is not None:
        sd = opt.state_dict()
        sd["param_groups"] = meta["param_groups"]  # lr and momentum as the schedule left them
        for key, v in tensors.items():
            if key.startswith("opt."):
                _, i, k = key.split(".", 2)
                sd["state"].setdefault(int(i), {})[k] = torch.from_numpy(v.copy())
        opt.load_state_dict(sd)
    if sched is not None:
        sched.load_state_dict(meta["scheduler"])
    torch.set_rng_state(torch.tensor(meta["rng"], dtype=torch.uint8))
    if "cuda_rng" in meta:
        torch.cuda.set_rng_state(torch.tensor(meta["cuda_rng"], dtype=torch.uint8), meta["config"]["device"])
    return meta


def train(cfg: TrainConfig, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, **model_kw):
    """Train ``cfg.model`` on arrays; returns (model, history). Writes cfg.out/."""
    if len(x) == 0:
        raise C3POError("no training samples; build a dataset first (c3po dataset build)")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    classes = len(cfg.classes) or int(y.max()) + 1
    model = create_model(cfg.model, classes=classes, **model_kw).to(cfg.device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.15)
    ckpt = out / "checkpoint"
    start_epoch, history = 0, []
    if cfg.resume and ckpt.with_suffix(".json").exists():
        meta = load_checkpoint(ckpt, model, opt, sched)
        start_epoch, history = meta["epoch"] + 1, meta["history"]
    views3 = x.ndim == 4 and x.shape[1] == 3
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(x), generator=g).numpy()
        bar = tqdm(range(steps_per_epoch), desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}", leave=False)
        seen = correct = 0
        loss_sum = 0.0
        t0 = time.time()
        for step in bar:
            idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
            xb, yb = _to_float(x[idx]), torch.from_numpy(y[idx]).long()
            if cfg.augment:
                if xb.ndim == 5:  # frames: same augmentation for every frame of a sample
                    b, t = xb.shape[:2]
                    xb = _augment(xb.transpose(1, 2).flatten(1, 2), g, False).reshape(b, 1, t, *xb.shape[-2:]).transpose(1, 2)
                else:
                    xb = _augment(xb, g, views3)
            xb, yb = xb.to(cfg.device, non_blocking=True), yb.to(cfg.device, non_blocking=True)
            with _autocast(cfg.device, cfg.bf16):
                logits = _forward(model, xb).float()
            target = _targets(model, yb, xb)
            loss = F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(target)
            correct += int((logits.argmax(1) == target).sum())
            loss_sum += float(loss.detach()) * len(target)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        val_acc = float((evaluate_arrays(model, x_val).argmax(1) == y_val).mean()) if len(x_val) else float("nan")
        history.append({"epoch": epoch, "loss": loss_sum / seen, "train_acc": correct / seen, "val_acc": val_acc,
                        "seconds": round(time.time() - t0, 1)})
        tqdm.write(f"{cfg.model} epoch {epoch + 1}: loss {loss_sum / seen:.4f} train {correct / seen:.4f} val {val_acc:.4f}")
        save_checkpoint(ckpt, model, opt, sched, epoch, history, cfg)
    model.eval()
    return model.to("cpu", memory_format=torch.contiguous_format), history


# ---- dataset directory -> model arrays ------------------------------------------------------


def model_arrays(model: str, root: str | Path, split: str | None, frames: int = 12) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Arrays a model trains on, from a built dataset (see :mod:`c3po.dataset`).

    lenet5    : every projection alone, (N, 1, S, S)
    multiview : the top, front and side views of one pose, (N, 3, S, S)
    sequence  : ``frames`` camera frames of one sequence, evenly spaced over its
                layers with the last one kept, (N, frames, 1, C, C)
    returns x uint8, y (N,) int64 and one manifest row per sample
    """
    from c3po.dataset import load_split

    if model == "sequence":
        x, y, rows = load_split(root, split, kind="seq")
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault((r["object_id"], r["view"]), []).append(i)
        idx = [sorted(g, key=lambda i: rows[i]["layer"]) for g in groups.values()]
        idx = [[g[j] for j in np.round(np.linspace(0, len(g) - 1, frames)).astype(int)] for g in idx if g]
        return (x[np.array(idx)][:, :, None] if idx else np.zeros((0, frames, 1, 1, 1), np.uint8),
                np.array([y[g[0]] for g in idx], np.int64), [rows[g[-1]] for g in idx])
    x, y, rows = load_split(root, split, kind="proj")
    if model == "lenet5":
        return x[:, None], y, rows
    groups = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["object_id"], r["pose"]), {})[r["view"]] = i
    idx = [[g[v] for v in ("top", "front", "side")] for g in groups.values() if len(g) == 3]
    if not idx:
        return np.zeros((0, 3, 1, 1), np.uint8), np.zeros(0, np.int64), []
    idx = np.array(idx)
    return x[idx], y[idx[:, 0]], [rows[i] for i in idx[:, 0]]


def run(cfg: TrainConfig, frames: int = 12) -> dict:
    """Train on a built dataset, export a bundle, evaluate it on the test split.

    Writes to ``cfg.out``: train_config.json, checkpoint.*, history.json, curves.png,
    bundle/ (bundle.json + weights, what the detector loads) and test/ (metrics.json,
    confusion.png, roc.png). Returns the test metrics.
    """
    from c3po.dataset import read_manifest
    from c3po.export import WEAPON_CLASSES, add_model, write_bundle

    rows = read_manifest(cfg.data)
    names = [n for _, n in sorted({(r["label"], r["class"]) for r in rows})]
    cfg.classes = names
    x, y, _ = model_arrays(cfg.model, cfg.data, "train", frames)
    xv, yv, _ = model_arrays(cfg.model, cfg.data, "val", frames)
    t0 = time.time()
    model, history = train(cfg, x, y, xv, yv)
    seconds = time.time() - t0
    out = Path(cfg.out)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    _plot_curves(history, out / "curves.png", cfg.model)
    conf = json.loads((Path(cfg.data) / "config.json").read_text())
    size = conf["cam_size"] if cfg.model == "sequence" else conf["proj_size"]
    input_spec = {"type": "camera" if cfg.model == "sequence" else "projections", "size": size,
                  "margin": 0.1, "canonical": bool(conf.get("canonical", False)), "frames": frames,
                  "views": ["silhouette"] if conf.get("views") == "best" else ["top", "front", "side"],
                  "layers_per_px": float(conf.get("layers_per_px", 0.0))}
    entry = add_model(out / "bundle", "camera" if cfg.model == "sequence" else "projection", model, input_spec)
    role = "camera" if cfg.model == "sequence" else "projection"  # what the detector looks for
    extra = dict(train_seconds=round(seconds, 1), model=cfg.model, params=entry["params"], data=str(cfg.data))
    m = evaluate_entry(out / "bundle", entry, names, WEAPON_CLASSES, 0.5, cfg.data, "test", out / "test",
                       f"{cfg.model} test", extra)
    entry["metrics"] = {k: m[k] for k in ("n", "accuracy", "weapon_recall", "false_positive_rate", "roc_auc")}
    write_bundle(out / "bundle", names, {role: entry}, threshold=0.5)
    return m


def evaluate_entry(bundle_dir: str | Path, entry: dict, classes: list[str], weapon_classes: list[str],
                   threshold: float, data: str | Path, split: str, out: str | Path, title: str,
                   extra: dict | None = None) -> dict:
    """Run one bundle model (numpy runtime, as shipped) on a split of a built dataset;
    write metrics.json, confusion.png and roc.png to ``out``; return the metrics."""
    from c3po.evaluate import metrics, weapon_scores, write_report
    from c3po.runtime import ensemble_probs, load_networks

    x, y, rows = model_arrays(entry["kind"], data, split, entry["input"].get("frames", 12))
    if not len(x):
        raise C3POError(f"{data}: no {split} samples for a {entry['kind']} model")
    probs = ensemble_probs(load_networks(bundle_dir, entry), x)  # an ensemble's members averaged
    attrs = {"pose": np.array([r["pose"].split(":")[0] for r in rows]), "slicer": np.array([r["slicer"] for r in rows]),
             "print": np.array(["partial" if r["layer"] >= 0 and r["kind"] == "proj" else "whole" for r in rows])}
    m = {**metrics(probs, y, classes, weapon_classes, threshold, attrs), **(extra or {})}
    write_report(out, m, classes, weapon_scores(probs, classes, weapon_classes),
                 np.isin(np.asarray(classes)[y], weapon_classes), title=title)
    return m


def _plot_curves(history: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] + 1 for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ax[0].plot(ep, [h["loss"] for h in history], "o-")
    ax[0].set_title("training loss")
    ax[1].plot(ep, [h["train_acc"] for h in history], "o-", label="train")
    ax[1].plot(ep, [h["val_acc"] for h in history], "o-", label="val")
    ax[1].set_title("accuracy")
    ax[1].legend()
    for a in ax:
        a.set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
