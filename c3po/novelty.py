"""Is an object like any weapon the model learned? A gate against confident nonsense.

A classifier must pick one of its classes, so a shape unlike anything it saw (a
mathematical curve, a CSG demo, a row of dots) can come out as ``rifle`` with 99%.
The gate measures how far an object's features (what the network's last layer sees)
are from the weapon classes of the training data: the Mahalanobis distance to each
weapon class mean under the pooled class covariance (Lee et al., NeurIPS 2018). Objects
farther than ``threshold`` from every weapon class are not weapons, however the softmax
scores them. Means and precision are fitted on the training split
(:func:`fit`); the threshold is chosen on calibration prints (models/calibrate.py).
"""

from __future__ import annotations

import numpy as np


def fit(features: np.ndarray, labels: np.ndarray, n_classes: int, shrink: float = 0.05) -> dict[str, np.ndarray]:
    """Class means (K, F) and the pooled precision (F, F) of training features (N, F).

    The covariance is shrunk towards its mean variance by ``shrink`` so a few thousand
    samples give a stable inverse.
    """
    f = features.astype(np.float64)
    means = np.stack([f[labels == k].mean(0) for k in range(n_classes)])
    centred = f - means[labels]
    cov = centred.T @ centred / len(f)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov))
    return {"novelty.means": means.astype(np.float32), "novelty.precision": np.linalg.inv(cov).astype(np.float32)}


def distance(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N,) smallest squared Mahalanobis distance of features (N, F) to the ``means`` (W, F)."""
    d = features[:, None, :].astype(np.float64) - means[None].astype(np.float64)
    return np.einsum("nwf,fg,nwg->nw", d, precision.astype(np.float64), d).min(1)
