"""Metrics and figures for a classifier's predictions (numpy + matplotlib).

Inputs are plain arrays: probabilities (N, K), true labels (N,), and optional
per-sample attributes (pose, slicer, ...) for breakdowns. A sample is a weapon when
its class is one of the weapon classes; it is *flagged* when the summed probability
of the weapon classes reaches the threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def weapon_scores(probs: np.ndarray, classes: list[str], weapon_classes: list[str]) -> np.ndarray:
    """(N,) summed probability of the weapon classes."""
    mask = np.array([c in weapon_classes for c in classes])
    return probs[:, mask].sum(1)


def roc(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False-positive rates, true-positive rates (ascending) and the area under the curve."""
    order = np.argsort(-scores, kind="stable")
    pos = positive[order].astype(np.float64)
    tp = np.concatenate([[0], np.cumsum(pos)])
    fp = np.concatenate([[0], np.cumsum(1 - pos)])
    tpr = tp / max(pos.sum(), 1)
    fpr = fp / max((1 - pos).sum(), 1)
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    return fpr, tpr, auc


def binary(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict:
    flagged = scores >= threshold
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return {
        "weapon_recall": float(flagged[positive].mean()) if n_pos else None,
        "false_positive_rate": float(flagged[~positive].mean()) if n_neg else None,
        "weapons": n_pos, "clear": n_neg,
    }


def metrics(probs: np.ndarray, y: np.ndarray, classes: list[str], weapon_classes: list[str],
            threshold: float = 0.5, attributes: dict[str, np.ndarray] | None = None) -> dict:
    """Accuracy, per-class accuracy, confusion matrix, weapon recall / FPR, ROC AUC,
    and the same binary numbers broken down by each attribute (e.g. pose, slicer)."""
    k = len(classes)
    pred = probs.argmax(1)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (y, pred), 1)
    scores = weapon_scores(probs, classes, weapon_classes)
    positive = np.isin(np.asarray(classes)[y], weapon_classes)
    _, _, auc = roc(scores, positive)
    out = {
        "n": int(len(y)), "accuracy": float((pred == y).mean()) if len(y) else None,
        "per_class_accuracy": {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None for i, c in enumerate(classes)},
        "confusion": cm.tolist(), "threshold": threshold, "roc_auc": auc,
        **binary(scores, positive, threshold),
    }
    for name, values in (attributes or {}).items():
        values = np.asarray(values)
        out[f"by_{name}"] = {
            str(v): {"n": int((values == v).sum()), "accuracy": float((pred[values == v] == y[values == v]).mean()),
                     **binary(scores[values == v], positive[values == v], threshold)}
            for v in np.unique(values)
        }
    return out


def plot_confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> None:
    """``curves`` maps a name to (scores, positive) arrays; one ROC line each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, (scores, positive) in curves.items():
        fpr, tpr, auc = roc(np.asarray(scores), np.asarray(positive, bool))
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.4f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_xlabel("false-positive rate (clear objects flagged)")
    ax.set_ylabel("weapon recall")
    ax.set_title(title or "weapon vs clear ROC")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out: str | Path, m: dict, classes: list[str], scores: np.ndarray, positive: np.ndarray,
                 title: str = "") -> None:
    """metrics.json, confusion.png and roc.png in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(m, indent=1))
    plot_confusion(np.array(m["confusion"]), classes, out / "confusion.png", title)
    plot_roc({title or "model": (scores, positive)}, out / "roc.png")
