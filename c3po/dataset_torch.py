"""torch ``Dataset`` views of a built dataset (the only c3po module here that imports torch).

    ds = ShardDataset("data/build/61k", split="train", kind="proj")      # one view per sample
    ds = ShardDataset("data/build/c3po", split="train", kind="views")    # (3, S, S) per pose
    ds = ShardDataset("data/build/c3po", split="val", kind="seq")        # camera frames

The split's images are loaded into memory once (uint8); samples are float32 in [0, 1].
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import torch

from c3po.dataset import VIEW_ORDER, load_images, read_manifest
from c3po.errors import DatasetError


class ShardDataset(torch.utils.data.Dataset):
    """Samples ``(x, label)`` of one split.

    kind : ``proj`` -> x (1, S, S), one projection; ``views`` -> x (3, S, S), the top,
           front and side views of one pose; ``seq`` -> x (1, C, C), one camera frame
    """

    def __init__(self, root: str | os.PathLike, split: str | None = "train", kind: str = "proj", transform=None):
        if kind not in ("proj", "views", "seq"):
            raise DatasetError(f"kind {kind!r}: use proj, views or seq")
        rows = [r for r in read_manifest(root) if r["kind"] == ("seq" if kind == "seq" else "proj")
                and (split is None or r["split"] == split)]
        if kind == "views":  # group complete triples of one pose, views in VIEW_ORDER
            poses = defaultdict(dict)
            for r in rows:
                poses[(r["object_id"], r["pose"])][r["view"]] = r
            groups = [[g[v] for v in VIEW_ORDER] for g in poses.values() if len(g) == len(VIEW_ORDER)]
            rows = [r for g in groups for r in g]
        self.images = load_images(root, rows)
        if kind == "views":
            self.images = self.images.reshape(-1, len(VIEW_ORDER), *self.images.shape[1:])
        else:
            self.images = self.images[:, None]
        self.labels = np.array([r["label"] for r in rows[:: 3 if kind == "views" else 1]], np.int64)
        self.rows = rows
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = torch.from_numpy(self.images[i].astype(np.float32) / 255.0)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])
