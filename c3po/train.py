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
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(_to_float(x[i : i + batch]))
            if isinstance(model, SequenceNet):
                logits = logits[:, -1]
            out.append(torch.softmax(logits, -1).numpy())
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
    model = create_model(cfg.model, classes=classes, **model_kw)
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
            logits = _forward(model, xb)
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
    return model, history
